//! Properties every partitioner must have, checked on all three.

use super::*;
use proptest::prelude::*;

fn arb_id() -> impl Strategy<Value = Id> {
    any::<[u8; crate::id::ID_LEN]>().prop_map(Id::from_bytes)
}

/// 1 to 40 distinct members.
fn arb_members() -> impl Strategy<Value = Vec<Id>> {
    proptest::collection::btree_set(arb_id(), 1..40).prop_map(|s| s.into_iter().collect())
}

fn schemes() -> [Scheme; 4] {
    [
        Scheme::Xor,
        Scheme::Ring { vnodes: 1 },
        Scheme::Ring { vnodes: 16 },
        Scheme::Rendezvous,
    ]
}

fn build(scheme: Scheme, members: &[Id]) -> Box<dyn Partitioner> {
    let mut p = scheme.build().expect("valid scheme");
    p.add_all(members).expect("distinct members");
    p
}

/// What a membership change may do to one key's owners: the new list is the old one
/// with `member` inserted (join) or taken out (leave) and the tail cut or refilled.
fn only_member_moved(before: &[Id], after: &[Id], member: &Id) -> bool {
    let strip = |list: &[Id]| -> Vec<Id> { list.iter().copied().filter(|m| m != member).collect() };
    let (b, a) = (strip(before), strip(after));
    let common = b.len().min(a.len());
    b[..common] == a[..common]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn owners_are_distinct_members_and_as_many_as_asked(
        members in arb_members(), key in arb_id(), r in 0usize..8,
    ) {
        for scheme in schemes() {
            let p = build(scheme, &members);
            match p.owners(&key, r) {
                Ok(owners) => {
                    prop_assert!(r <= members.len());
                    prop_assert_eq!(owners.len(), r);
                    let mut sorted = owners.clone();
                    sorted.sort();
                    sorted.dedup();
                    prop_assert_eq!(sorted.len(), r, "{} repeated an owner", scheme);
                    prop_assert!(owners.iter().all(|o| p.contains(o)));
                    // Fewer owners are a prefix of more.
                    if r > 0 {
                        prop_assert_eq!(&p.owners(&key, r - 1).expect("fewer")[..], &owners[..r - 1]);
                    }
                }
                Err(e) => {
                    prop_assert!(r > members.len());
                    prop_assert_eq!(e, PartitionError::TooFewMembers { wanted: r, members: members.len() });
                }
            }
        }
    }

    #[test]
    fn owners_do_not_depend_on_insertion_order(
        members in arb_members(), key in arb_id(), seed: u64,
    ) {
        use rand::{seq::SliceRandom, SeedableRng};
        let mut shuffled = members.clone();
        shuffled.shuffle(&mut rand::rngs::SmallRng::seed_from_u64(seed));
        let r = members.len().min(3);
        for scheme in schemes() {
            let bulk = build(scheme, &members);
            let mut one_by_one = scheme.build().expect("valid");
            for m in &shuffled {
                one_by_one.add(*m).expect("distinct");
            }
            prop_assert_eq!(bulk.owners(&key, r), one_by_one.owners(&key, r));
            prop_assert_eq!(bulk.members(), one_by_one.members());
        }
    }

    #[test]
    fn a_join_moves_keys_only_to_the_newcomer(
        members in arb_members(), newcomer in arb_id(),
        keys in proptest::collection::vec(arb_id(), 1..20),
    ) {
        prop_assume!(!members.contains(&newcomer));
        let r = members.len().min(3);
        for scheme in schemes() {
            let mut p = build(scheme, &members);
            let before: Vec<Vec<Id>> = keys.iter().map(|k| p.owners(k, r).expect("r <= n")).collect();
            p.add(newcomer).expect("new member");
            for (key, old) in keys.iter().zip(&before) {
                let new = p.owners(key, r).expect("r <= n");
                prop_assert!(only_member_moved(old, &new, &newcomer), "{}: {:?} -> {:?}", scheme, old, new);
            }
        }
    }

    #[test]
    fn a_leave_moves_only_the_leavers_keys(
        members in arb_members(), pick: prop::sample::Index,
        keys in proptest::collection::vec(arb_id(), 1..20),
    ) {
        prop_assume!(members.len() >= 2);
        let leaver = members[pick.index(members.len())];
        let r = (members.len() - 1).min(3);
        for scheme in schemes() {
            let mut p = build(scheme, &members);
            let before: Vec<Vec<Id>> = keys.iter().map(|k| p.owners(k, r).expect("r <= n")).collect();
            p.remove(&leaver).expect("member");
            prop_assert!(!p.contains(&leaver));
            for (key, old) in keys.iter().zip(&before) {
                let new = p.owners(key, r).expect("r <= n");
                if !old.contains(&leaver) {
                    prop_assert_eq!(&new, old);
                }
                prop_assert!(only_member_moved(old, &new, &leaver), "{}: {:?} -> {:?}", scheme, old, new);
            }
        }
    }

    #[test]
    fn add_then_remove_restores_the_owners(
        members in arb_members(), extra in arb_id(), key in arb_id(),
    ) {
        prop_assume!(!members.contains(&extra));
        let r = members.len().min(3);
        for scheme in schemes() {
            let mut p = build(scheme, &members);
            let before = p.owners(&key, r);
            p.add(extra).expect("new");
            p.remove(&extra).expect("member");
            prop_assert_eq!(p.owners(&key, r), before);
        }
    }
}

#[test]
fn membership_errors_are_clear() {
    let a = Id::sha1(b"a");
    let b = Id::sha1(b"b");
    for scheme in schemes() {
        let mut p = build(scheme, &[a]);
        assert_eq!(p.add(a), Err(PartitionError::DuplicateMember(a)));
        assert_eq!(p.add_all(&[b, b]), Err(PartitionError::DuplicateMember(b)));
        assert_eq!(p.len(), 1, "{scheme}: a failed add_all added something");
        assert_eq!(p.remove(&b), Err(PartitionError::UnknownMember(b)));
        let too_many = p.owners(&a, 2).expect_err("one member");
        assert_eq!(
            too_many.to_string(),
            "asked for 2 owners among 1 members",
            "{scheme}"
        );
        let err: Error = PartitionError::DuplicateMember(a).into();
        assert!(matches!(err, Error::BadInput(_)));
        assert_eq!(err.to_string(), format!("bad input: duplicate member {a}"));
        assert_eq!(p.owners(&a, 0), Ok(vec![]));
    }
    let mut empty = Rendezvous::new();
    assert_eq!(empty.owners(&a, 0), Ok(vec![]));
    assert!(empty.owners(&a, 1).is_err());
    assert_eq!(
        Xor::new().add_weighted(a, 2.0),
        Err(PartitionError::Unweighted("xor"))
    );
    assert_eq!(empty.add_weighted(a, 2.0), Ok(()));
}

#[test]
fn schemes_parse_and_print() {
    for (text, scheme) in [
        ("xor", Scheme::Xor),
        ("rendezvous", Scheme::Rendezvous),
        (
            "ring",
            Scheme::Ring {
                vnodes: DEFAULT_VNODES,
            },
        ),
        ("ring:16", Scheme::Ring { vnodes: 16 }),
    ] {
        assert_eq!(text.parse::<Scheme>(), Ok(scheme));
        assert_eq!(scheme.to_string().parse::<Scheme>(), Ok(scheme));
    }
    assert_eq!(
        "ring:0".parse::<Scheme>(),
        Err(PartitionError::BadVnodes(0))
    );
    for bad in ["", "chord", "ring:", "ring:x", "xor:3"] {
        assert!(
            matches!(bad.parse::<Scheme>(), Err(PartitionError::UnknownScheme(_))),
            "{bad:?}"
        );
    }
}

#[test]
fn shared_partitioner_answers_from_many_threads() {
    let members: Vec<Id> = (0..50u32).map(|i| Id::sha1(&i.to_be_bytes())).collect();
    let shared = SharedPartitioner::with_members(Scheme::Rendezvous, &members).expect("distinct");
    let key = Id::sha1(b"key");
    let expected = shared.owners(&key, 3).expect("r <= n");
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for _ in 0..100 {
                    assert_eq!(shared.owners(&key, 3).expect("r <= n"), expected);
                }
            });
        }
    });
    shared.remove(&expected[0]).expect("member");
    assert_eq!(shared.owners(&key, 2).expect("r <= n"), expected[1..]);
    assert_eq!(shared.len(), 49);
}
