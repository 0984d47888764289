//! Property tests: random operation sequences (appends with expected
//! versions and chosen, duplicate, generated and invalid ids; batched
//! concurrent appends; reads by stream, position and id; range queries;
//! reopening) run against the in-memory and the LMDB store, each checked
//! step by step against a naive model (`rewind_testkit::model`).
//!
//! More cases: `PROPTEST_CASES=5000 cargo test --release -p rewind-core --test properties store::`.

use proptest::prelude::*;
use rewind_core::Store;
use rewind_testkit::model::*;

use crate::cases;

fn id_choice() -> impl Strategy<Value = IdChoice> {
    prop_oneof![
        4 => Just(IdChoice::Generated),
        3 => any::<u8>().prop_map(IdChoice::Pool),
        2 => Just(IdChoice::Fresh),
        2 => any::<u16>().prop_map(IdChoice::Existing),
        1 => Just(IdChoice::Empty),
        1 => Just(IdChoice::TooLong),
        1 => Just(IdChoice::Longest),
    ]
}

fn exp() -> impl Strategy<Value = Exp> {
    prop_oneof![
        3 => Just(Exp::Any),
        1 => Just(Exp::NoStream),
        1 => Just(Exp::StreamExists),
        2 => (0u8..6).prop_map(Exp::Exact),
    ]
}

fn stream() -> impl Strategy<Value = u8> {
    prop_oneof![8 => 0u8..5, 1 => 5u8..7]
}

fn append() -> impl Strategy<Value = AppendSpec> {
    (
        stream(),
        prop::collection::vec(
            (id_choice(), prop::collection::vec(any::<u8>(), 0..24)),
            0..4,
        ),
        exp(),
    )
        .prop_map(|(stream, events, expected)| AppendSpec {
            stream,
            events,
            expected,
        })
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => append().prop_map(Op::Append),
        2 => prop::collection::vec(append(), 1..6).prop_map(Op::Batch),
        2 => (stream(), any::<u8>(), any::<u8>())
            .prop_map(|(stream, from, limit)| Op::ReadStream { stream, from, limit }),
        2 => (any::<u8>(), any::<u8>()).prop_map(|(from, limit)| Op::ReadLog { from, limit }),
        2 => id_choice().prop_map(Op::Get),
        3 => (stream(), prop::option::of(id_choice()), prop::option::of(id_choice()), any::<u8>())
            .prop_map(|(stream, from, to, limit)| Op::Query { stream, from, to, limit }),
        1 => stream().prop_map(Op::Head),
        1 => Just(Op::NextPosition),
        1 => Just(Op::Reopen),
    ]
}

fn run_memory(ops: &[Op]) {
    let mut model = Model::default();
    run_ops(Store::in_memory(), &mut model, ops, None);
}

fn run_lmdb(ops: &[Op]) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store");
    let mut model = Model::default();
    let mut reopen = |old: Store| {
        old.close().unwrap();
        drop(old);
        Store::open_lmdb(&path).unwrap()
    };
    let store = Store::open_lmdb(&path).unwrap();
    let store = run_ops(store, &mut model, ops, Some(&mut reopen));
    store.close().unwrap();
    drop(store);
    // What was stored is what a fresh open, read-only, sees.
    let mut o = rewind_core::lmdb::LmdbOptions::new(&path);
    o.read_only = true;
    let ro = Store::open(&rewind_core::StoreOptions::Lmdb(o)).unwrap();
    assert_eq!(ro.read_log_vec(0, usize::MAX).unwrap(), model.log);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(256), ..ProptestConfig::default() })]

    #[test]
    fn memory_store_matches_the_model(ops in prop::collection::vec(op(), 0..60)) {
        run_memory(&ops);
    }

    #[test]
    fn memory_store_matches_the_model_on_decoded_bytes(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        run_memory(&decode_ops(&bytes));
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(48), ..ProptestConfig::default() })]

    #[test]
    fn lmdb_store_matches_the_model(ops in prop::collection::vec(op(), 0..60)) {
        run_lmdb(&ops);
    }
}

/// Regression cases (fuzzer and property-test findings are added here).
#[test]
fn regressions() {
    use IdChoice::*;
    // An append naming the same id twice fails as a whole.
    let dup = vec![Op::Append(AppendSpec {
        stream: 0,
        events: vec![(Pool(1), vec![1]), (Pool(1), vec![2])],
        expected: Exp::Any,
    })];
    // Two appends of one batch that conflict with each other.
    let batch = vec![Op::Batch(vec![
        AppendSpec {
            stream: 0,
            events: vec![(Generated, vec![])],
            expected: Exp::NoStream,
        },
        AppendSpec {
            stream: 0,
            events: vec![(Generated, vec![])],
            expected: Exp::NoStream,
        },
        AppendSpec {
            stream: 1,
            events: vec![(Pool(2), vec![])],
            expected: Exp::Any,
        },
        AppendSpec {
            stream: 0,
            events: vec![(Pool(2), vec![])],
            expected: Exp::Exact(0),
        },
    ])];
    for ops in [dup, batch] {
        run_memory(&ops);
        run_lmdb(&ops);
    }
}
