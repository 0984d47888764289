//! The binary on PostgreSQL: `--postgres DSN` and a `PostgresEventStore`
//! section of a configuration file both serve a database; two servers on
//! one database serve one log; a database that cannot be reached is a
//! clean failure.

use rewind_testkit::postgres::Cluster;
use rewind_testkit::prelude::*;

use crate::rewind;

#[test]
fn two_servers_on_one_database_serve_one_log() {
    let cluster = Cluster::shared();
    let db = cluster.new_database();
    let by_flag = Spawn::new(rewind())
        .arg("--postgres")
        .arg(cluster.dsn(&db))
        .start();

    let dir = tempdir("pg-config");
    let e = Endpoints::fresh();
    let conf = write_file(
        dir.path(),
        "rewind.conf",
        &format!(
            "[general]\n\
             command-bind-endpoint={}\n\
             publish-bind-endpoint={}\n\
             storage-backend=pg\n\n\
             [pg]\n\
             class=rewind.server.eventstores.PostgresEventStore\n\
             dsn={}\n",
            e.command,
            e.publish,
            cluster.url(&db)
        ),
    );
    let by_config = Spawn::bare(rewind()).config(&conf).start_at(e);

    let a = by_flag.dealer().publish(b"orders", b"through the first");
    let b = by_config.dealer().publish(b"orders", b"through the second");
    let c = by_flag.dealer().publish(b"orders", b"and the first again");
    let want = vec![
        (a, b"through the first".to_vec()),
        (b, b"through the second".to_vec()),
        (c, b"and the first again".to_vec()),
    ];
    assert_eq!(by_flag.dealer().query(b"orders", b"", b""), want);
    assert_eq!(by_config.dealer().query(b"orders", b"", b""), want);
    let ready = by_flag.output();
    assert!(
        ready.contains(&db),
        "the ready line names the database: {ready}"
    );
    by_flag.stop();
    by_config.stop();

    // The events outlive both servers.
    let again = Spawn::new(rewind())
        .arg("--postgres")
        .arg(cluster.url(&db))
        .start();
    assert_eq!(again.dealer().query(b"orders", b"", b""), want);
}

#[test]
fn a_database_that_cannot_be_reached_is_a_clean_failure() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let line = Spawn::new(rewind())
        .arg("--postgres")
        .arg(format!(
            "host=127.0.0.1 port={port} dbname=events user=rewind password=hunter2"
        ))
        .run_to_exit()
        .assert_refused();
    assert!(line.contains("cannot connect to"), "{line}");
    assert!(line.contains("events"), "{line}");
    assert!(
        !line.contains("hunter2"),
        "the password never shows: {line}"
    );
}
