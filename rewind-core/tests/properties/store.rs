//! Property tests: random operation sequences (appends to one or several
//! streams with expected versions, chosen, duplicate, generated and invalid
//! ids, types and metadata; retries of earlier appends, as they were or
//! changed; batched concurrent appends; reads by stream and position, both
//! ways, and by id; range queries; reopening) run against the in-memory and
//! the LMDB store, each checked step by step against a naive model
//! (`rewind_testkit::model`), listeners included.
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

fn event() -> impl Strategy<Value = EventSpec> {
    (
        id_choice(),
        prop_oneof![6 => Just(0u8), 4 => 3u8..6, 1 => 6u8..8],
        prop_oneof![3 => Just(Vec::new()), 1 => prop::collection::vec(any::<u8>(), 1..8)],
        prop::collection::vec(any::<u8>(), 0..24),
    )
        .prop_map(|(id, event_type, metadata, data)| EventSpec {
            id,
            event_type,
            metadata,
            data,
        })
}

fn append() -> impl Strategy<Value = AppendSpec> {
    (stream(), prop::collection::vec(event(), 0..4), exp()).prop_map(
        |(stream, events, expected)| AppendSpec {
            stream,
            events,
            expected,
        },
    )
}

/// The parts of an append to several streams (sometimes none, sometimes
/// one stream twice).
fn parts() -> impl Strategy<Value = Vec<AppendSpec>> {
    prop::collection::vec(append(), 0..4)
}

fn change() -> impl Strategy<Value = Change> {
    prop_oneof![
        6 => Just(Change::Same),
        1 => Just(Change::Data),
        1 => Just(Change::Type),
        1 => Just(Change::Metadata),
        1 => Just(Change::DropLast),
        1 => Just(Change::AddFresh),
        1 => Just(Change::ExpectAny),
        1 => Just(Change::Reversed),
    ]
}

fn from() -> impl Strategy<Value = Option<u8>> {
    prop_oneof![1 => Just(None), 2 => any::<u8>().prop_map(Some)]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => append().prop_map(Op::Append),
        4 => parts().prop_map(Op::AppendMulti),
        2 => prop::collection::vec(
                prop_oneof![3 => append().prop_map(|a| vec![a]), 1 => parts()],
                1..6,
            )
            .prop_map(Op::Batch),
        4 => (any::<u16>(), change()).prop_map(|(index, change)| Op::Retry { index, change }),
        2 => (stream(), any::<u8>(), any::<u8>())
            .prop_map(|(stream, from, limit)| Op::ReadStream { stream, from, limit }),
        2 => (stream(), from(), any::<u8>())
            .prop_map(|(stream, from, limit)| Op::ReadStreamBackward { stream, from, limit }),
        2 => (any::<u8>(), any::<u8>()).prop_map(|(from, limit)| Op::ReadLog { from, limit }),
        2 => (from(), any::<u8>()).prop_map(|(from, limit)| Op::ReadLogBackward { from, limit }),
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
    let ev = |id, data: &[u8]| EventSpec::plain(id, data.to_vec());
    let spec = |stream, events, expected| AppendSpec {
        stream,
        events,
        expected,
    };
    // An append naming the same id twice fails as a whole.
    let dup = vec![Op::Append(spec(
        0,
        vec![ev(Pool(1), &[1]), ev(Pool(1), &[2])],
        Exp::Any,
    ))];
    // Two appends of one batch that conflict with each other.
    let batch = vec![Op::Batch(vec![
        vec![spec(0, vec![ev(Generated, &[])], Exp::NoStream)],
        vec![spec(0, vec![ev(Generated, &[])], Exp::NoStream)],
        vec![spec(1, vec![ev(Pool(2), &[])], Exp::Any)],
        vec![spec(0, vec![ev(Pool(2), &[])], Exp::Exact(0))],
    ])];
    // An append to two streams, sent again as it was, then changed; and a
    // retry of it in the same batch as the original.
    let typed = EventSpec {
        id: Pool(3),
        event_type: 3,
        metadata: vec![9],
        data: vec![1],
    };
    let two = vec![
        spec(1, vec![ev(Pool(4), &[2]), typed.clone()], Exp::NoStream),
        spec(0, vec![ev(Pool(5), &[3])], Exp::Any),
    ];
    let retries = vec![
        Op::AppendMulti(two.clone()),
        Op::Retry {
            index: 0,
            change: Change::Same,
        },
        Op::Retry {
            index: 0,
            change: Change::Reversed,
        },
        Op::Retry {
            index: 0,
            change: Change::DropLast,
        },
        Op::Retry {
            index: 0,
            change: Change::Type,
        },
        Op::Retry {
            index: 0,
            change: Change::AddFresh,
        },
        Op::Append(spec(0, vec![ev(Fresh, &[])], Exp::Any)),
        Op::Retry {
            index: 0,
            change: Change::ExpectAny,
        },
        Op::Batch(vec![
            vec![spec(2, vec![ev(Pool(0), &[7])], Exp::Any)],
            vec![spec(2, vec![ev(Pool(0), &[7])], Exp::NoStream)],
            vec![spec(2, vec![ev(Pool(0), &[8])], Exp::Any)],
        ]),
        Op::ReadLogBackward {
            from: None,
            limit: 255,
        },
    ];
    // A stream named twice in one append; an append of no parts.
    let invalid = vec![
        Op::AppendMulti(vec![
            spec(0, vec![ev(Fresh, &[])], Exp::Any),
            spec(0, vec![ev(Fresh, &[])], Exp::Any),
        ]),
        Op::AppendMulti(vec![]),
        Op::Append(spec(
            0,
            vec![EventSpec {
                event_type: 7,
                ..ev(Fresh, &[])
            }],
            Exp::Any,
        )),
    ];
    for ops in [dup, batch, retries, invalid] {
        run_memory(&ops);
        run_lmdb(&ops);
    }
}
