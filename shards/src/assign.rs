//! Which shards a member should own, given the live members.

use std::collections::BTreeSet;

/// The shards of `shards` that `member` should own when `members` are live: shard `i` belongs
/// to the member at position `i mod n` of the sorted members, so every member owns
/// `shards / n` or one more, and every member computes the same split from the same view.
/// Empty when `member` is not among `members`.
///
/// ```
/// let members = vec!["a".to_string(), "b".to_string(), "c".to_string()];
/// let of_b = informer_shards::assigned_shards(8, &members, "b");
/// assert_eq!(of_b.into_iter().collect::<Vec<_>>(), vec![1, 4, 7]);
/// ```
pub fn assigned_shards(shards: u32, members: &[String], member: &str) -> BTreeSet<u32> {
    let mut sorted: Vec<&String> = members.iter().collect();
    sorted.sort();
    sorted.dedup();
    let Some(position) = sorted.iter().position(|m| *m == member) else {
        return BTreeSet::new();
    };
    let n = sorted.len() as u32;
    (0..shards).filter(|shard| shard % n == position as u32).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("m{i}")).collect()
    }

    #[test]
    fn every_shard_has_exactly_one_member_and_the_split_is_even() {
        for members in 1..6 {
            let names = names(members);
            for shards in [1u32, 2, 7, 8, 16] {
                let mut seen = BTreeSet::new();
                let mut sizes = Vec::new();
                for m in &names {
                    let mine = assigned_shards(shards, &names, m);
                    sizes.push(mine.len());
                    for s in mine {
                        assert!(seen.insert(s), "shard {s} assigned twice");
                    }
                }
                assert_eq!(seen.len(), shards as usize);
                let (min, max) = (sizes.iter().min().unwrap(), sizes.iter().max().unwrap());
                assert!(max - min <= 1, "{members} members, {shards} shards: {sizes:?}");
            }
        }
    }

    #[test]
    fn the_order_members_are_listed_in_does_not_matter() {
        let a = vec!["x".to_string(), "a".to_string(), "m".to_string()];
        let b = vec!["m".to_string(), "x".to_string(), "a".to_string()];
        for m in &a {
            assert_eq!(assigned_shards(10, &a, m), assigned_shards(10, &b, m));
        }
    }

    #[test]
    fn a_member_not_live_owns_nothing() {
        assert!(assigned_shards(8, &names(3), "stranger").is_empty());
        assert!(assigned_shards(8, &[], "m0").is_empty());
    }
}
