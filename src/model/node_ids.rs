//! Stable node-id ranges per pool.
//!
//! A pool's first node id comes, in order of precedence, from `spec.nodePools[i].nodeIdStart`, from what the
//! controller observed (its status), or from the lowest free block of [`BLOCK`] ids, in spec order.
//! A pool's nodes are `start .. start + replicas`, and pod ordinals equal node ids (`ordinals.start`).
use std::{collections::BTreeMap, ops::Range};

use super::error::Findings;

/// Size of an automatically assigned block of node ids (and the maximum pool size).
pub const BLOCK: i32 = 100;

/// What a pool asks for.
pub(crate) struct PoolRequest<'a> {
    pub name: &'a str,
    pub replicas: i32,
    pub spec_start: Option<i32>,
}

fn overlaps(a: &Range<i32>, b: &Range<i32>) -> bool {
    a.start < b.end && b.start < a.end
}

/// Assigns a first node id to every pool (same order as `pools`). Errors are reported with field paths.
pub(crate) fn assign(pools: &[PoolRequest<'_>], observed: &BTreeMap<String, i32>, findings: &mut Findings) -> Vec<i32> {
    let mut starts: Vec<Option<i32>> = Vec::with_capacity(pools.len());
    for (index, pool) in pools.iter().enumerate() {
        let seen = observed.get(pool.name).copied();
        match (pool.spec_start, seen) {
            (Some(spec), Some(seen)) if spec != seen => {
                findings.error(
                    format!("spec.nodePools[{index}].nodeIdStart"),
                    format!("cannot change from {seen} to {spec}: the pool's nodes already exist with their ids"),
                );
                starts.push(Some(seen));
            }
            (Some(spec), _) => starts.push(Some(spec)),
            (None, seen) => starts.push(seen),
        }
    }
    let mut taken: Vec<Range<i32>> = Vec::new();
    for (index, pool) in pools.iter().enumerate() {
        if let Some(start) = starts[index] {
            let range = start..start.saturating_add(pool.replicas.max(1));
            if let Some(other) = taken.iter().position(|r| overlaps(r, &range)) {
                let other_pool =
                    pools.iter().enumerate().filter(|(i, _)| starts[*i].is_some()).nth(other).map_or("another pool", |(_, p)| p.name);
                findings.error(
                    format!("spec.nodePools[{index}].nodeIdStart"),
                    format!("node ids {}..{} overlap those of pool {other_pool}", range.start, range.end - 1),
                );
            }
            taken.push(range);
        }
    }
    let mut result = Vec::with_capacity(pools.len());
    for start in &starts {
        let start = match *start {
            Some(start) => start,
            None => {
                let mut block = 0;
                while taken.iter().any(|r| overlaps(r, &(block..block + BLOCK))) {
                    block += BLOCK;
                }
                taken.push(block..block + BLOCK);
                block
            }
        };
        result.push(start);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(name: &str, replicas: i32, spec_start: Option<i32>) -> PoolRequest<'_> {
        PoolRequest { name, replicas, spec_start }
    }

    #[test]
    fn blocks_of_one_hundred_in_spec_order() {
        let mut findings = Findings::default();
        let starts = assign(&[request("c", 3, None), request("b", 3, None)], &BTreeMap::new(), &mut findings);
        assert_eq!(starts, vec![0, 100]);
        assert!(findings.errors.is_empty());
    }

    #[test]
    fn observed_starts_are_kept_when_pools_are_reordered() {
        let mut findings = Findings::default();
        let observed = BTreeMap::from([("c".to_owned(), 0), ("b".to_owned(), 100)]);
        let pools = [request("new", 2, None), request("b", 3, None), request("c", 3, None)];
        assert_eq!(assign(&pools, &observed, &mut findings), vec![200, 100, 0]);
    }

    #[test]
    fn explicit_overlap_is_an_error() {
        let mut findings = Findings::default();
        assign(&[request("a", 5, Some(0)), request("b", 3, Some(3))], &BTreeMap::new(), &mut findings);
        assert_eq!(findings.errors.len(), 1);
        assert_eq!(findings.errors[0].path, "spec.nodePools[1].nodeIdStart");
    }
}
