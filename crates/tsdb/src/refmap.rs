//! Hash maps keyed by series references or label hashes: the keys are already well
//! distributed integers, so a multiply-and-rotate hash replaces SipHash (which dominated the
//! append path in profiles).

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// A hasher for integer keys.
#[derive(Default, Clone, Copy)]
pub(crate) struct IntHasher(u64);

impl Hasher for IntHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.write_u64(u64::from(*b));
        }
    }

    #[inline]
    fn write_u64(&mut self, n: u64) {
        // Fibonacci hashing: spreads sequential references over all bits.
        self.0 = (self.0 ^ n)
            .wrapping_mul(0x9e37_79b9_7f4a_7c15)
            .rotate_left(26);
    }
}

/// A `HashMap` keyed by `u64` with [`IntHasher`].
pub(crate) type IntMap<V> = HashMap<u64, V, BuildHasherDefault<IntHasher>>;

/// Consecutive references kept together in one stripe (log2): series created together are
/// usually appended together, so their slots share cache lines.
const RUN_BITS: u32 = 4;
/// Stripes of a [`RefTable`] (log2).
const STRIPE_BITS: u32 = 8;
/// Smallest capacity of a stripe's slot array.
const MIN_SLOTS: usize = 16;

/// One lock on its own cache line, so readers of neighbouring stripes on other cores do not
/// invalidate each other's lines.
#[repr(align(64))]
struct Padded<T>(T);

/// Values by series reference, for the lookup on every append.
///
/// References are handed out in increasing order, so instead of hashing they index an
/// open-addressing table directly: each stripe holds runs of 16 consecutive references,
/// numbered densely within the stripe, and a reference's home slot is that number modulo
/// the capacity (linear probing after it, backward-shift deletion). Appends in creation
/// order then walk the slots in memory order: one cache line read per four series, where
/// a general hash map reads its control bytes and its bucket at random, and the stripe's
/// lock sits alone on its line.
pub(crate) struct RefTable<V> {
    stripes: Box<[Padded<parking_lot::RwLock<Slots<V>>>]>,
}

/// One stripe: a linear-probing table of `(reference, value)`.
struct Slots<V> {
    slots: Vec<Option<(u64, V)>>,
    len: usize,
}

impl<V> Default for RefTable<V> {
    fn default() -> Self {
        RefTable {
            stripes: (0..1usize << STRIPE_BITS)
                .map(|_| {
                    Padded(parking_lot::RwLock::new(Slots {
                        slots: Vec::new(),
                        len: 0,
                    }))
                })
                .collect(),
        }
    }
}

/// The stripe of a reference.
#[inline]
fn stripe_of(r: u64) -> usize {
    ((r >> RUN_BITS) & ((1 << STRIPE_BITS) - 1)) as usize
}

/// A reference's dense number within its stripe.
#[inline]
fn local(r: u64) -> usize {
    (((r >> (RUN_BITS + STRIPE_BITS)) << RUN_BITS) | (r & ((1 << RUN_BITS) - 1))) as usize
}

impl<V> Slots<V> {
    #[inline]
    fn mask(&self) -> usize {
        self.slots.len() - 1
    }

    /// The slot holding `r`, if present.
    #[inline]
    fn find(&self, r: u64) -> Option<usize> {
        if self.slots.is_empty() {
            return None;
        }
        let mask = self.mask();
        let mut i = local(r) & mask;
        loop {
            match &self.slots[i] {
                Some((k, _)) if *k == r => return Some(i),
                Some(_) => i = (i + 1) & mask,
                None => return None,
            }
        }
    }

    /// Places an entry known to be absent; capacity must allow it.
    fn place(&mut self, r: u64, v: V) {
        let mask = self.mask();
        let mut i = local(r) & mask;
        while self.slots[i].is_some() {
            i = (i + 1) & mask;
        }
        self.slots[i] = Some((r, v));
        self.len += 1;
    }

    /// Rebuilds with `cap` slots (a power of two larger than the entries).
    fn rehash(&mut self, cap: usize) {
        let old = std::mem::replace(&mut self.slots, (0..cap).map(|_| None).collect());
        self.len = 0;
        for (r, v) in old.into_iter().flatten() {
            self.place(r, v);
        }
    }

    fn insert(&mut self, r: u64, v: V) -> Option<V> {
        if let Some(i) = self.find(r) {
            return self.slots[i]
                .as_mut()
                .map(|e| std::mem::replace(&mut e.1, v));
        }
        // At most three quarters full keeps probe runs short.
        if (self.len + 1) * 4 > self.slots.len() * 3 {
            self.rehash((self.slots.len() * 2).max(MIN_SLOTS));
        }
        self.place(r, v);
        None
    }

    fn remove(&mut self, r: u64) -> Option<V> {
        let mut hole = self.find(r)?;
        let (_, v) = self.slots[hole].take()?;
        self.len -= 1;
        // Backward-shift deletion: move later entries of the probe run into the hole
        // unless that would put them before their home slot.
        let mask = self.mask();
        let mut j = (hole + 1) & mask;
        while let Some((k, _)) = &self.slots[j] {
            let home = local(*k) & mask;
            // Whether `home` lies cyclically in (hole, j]: then the entry stays.
            let stays = if hole <= j {
                hole < home && home <= j
            } else {
                hole < home || home <= j
            };
            if !stays {
                self.slots[hole] = self.slots[j].take();
                hole = j;
            }
            j = (j + 1) & mask;
        }
        if self.slots.len() > MIN_SLOTS && self.len * 8 < self.slots.len() {
            self.rehash(self.slots.len() / 2);
        }
        Some(v)
    }
}

impl<V: Clone> RefTable<V> {
    #[inline]
    fn stripe(&self, r: u64) -> &parking_lot::RwLock<Slots<V>> {
        &self.stripes[stripe_of(r)].0
    }

    /// The value under `r`.
    #[inline]
    pub(crate) fn get(&self, r: u64) -> Option<V> {
        let s = self.stripe(r).read();
        s.find(r)
            .and_then(|i| s.slots[i].as_ref().map(|e| e.1.clone()))
    }

    /// Whether `r` is present.
    pub(crate) fn contains(&self, r: u64) -> bool {
        self.stripe(r).read().find(r).is_some()
    }

    /// Stores `v` under `r`, returning what it replaced.
    pub(crate) fn insert(&self, r: u64, v: V) -> Option<V> {
        self.stripe(r).write().insert(r, v)
    }

    /// Stores `make()` under `r` unless `r` is present.
    pub(crate) fn insert_if_absent(&self, r: u64, make: impl FnOnce() -> V) {
        let mut s = self.stripe(r).write();
        if s.find(r).is_none() {
            s.insert(r, make());
        }
    }

    /// Removes `r`, returning its value.
    pub(crate) fn remove(&self, r: u64) -> Option<V> {
        self.stripe(r).write().remove(r)
    }

    /// Number of entries.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.stripes.iter().map(|s| s.0.read().len).sum()
    }

    /// Number of entries for which `f(reference, value)` holds.
    pub(crate) fn count_where(&self, f: impl Fn(u64, &V) -> bool) -> usize {
        self.stripes
            .iter()
            .map(|s| {
                s.0.read()
                    .slots
                    .iter()
                    .flatten()
                    .filter(|(r, v)| f(*r, v))
                    .count()
            })
            .sum()
    }

    /// Every entry `(reference, value)`, in no particular order.
    pub(crate) fn entries(&self) -> Vec<(u64, V)> {
        let mut out = Vec::new();
        for s in self.stripes.iter() {
            out.extend(s.0.read().slots.iter().flatten().cloned());
        }
        out
    }

    /// Every value, in no particular order.
    #[cfg(test)]
    pub(crate) fn values(&self) -> Vec<V> {
        let mut out = Vec::new();
        for s in self.stripes.iter() {
            out.extend(s.0.read().slots.iter().flatten().map(|(_, v)| v.clone()));
        }
        out
    }
}

impl<T> RefTable<std::sync::Arc<T>> {
    /// The value under `r`, and a prefetch of the value a few references later: appends
    /// mostly come in reference order (a scrape in exposition order, a batch in creation
    /// order), so by the time that series is appended to, its first cache lines are on
    /// their way instead of a cache miss away.
    #[inline]
    pub(crate) fn get_prefetching(&self, r: u64) -> Option<std::sync::Arc<T>> {
        /// How far ahead: far enough to hide a miss behind the work on the series between.
        const AHEAD: u64 = 4;
        let s = self.stripe(r).read();
        let next = r + AHEAD;
        if stripe_of(next) == stripe_of(r)
            && let Some(i) = s.find(next)
            && let Some((_, v)) = &s.slots[i]
        {
            prefetch_arc(v);
        }
        s.find(r)
            .and_then(|i| s.slots[i].as_ref().map(|e| std::sync::Arc::clone(&e.1)))
    }
}

/// Starts loading the first cache lines of what `a` points to (its reference counts, and
/// for a series its lock and append state).
#[inline]
pub(crate) fn prefetch_arc<T>(a: &std::sync::Arc<T>) {
    prefetch(std::sync::Arc::as_ptr(a).cast(), size_of::<T>().min(192));
}

/// Starts loading the cache line holding address `addr` (a hint; 0 is ignored).
#[inline]
pub(crate) fn prefetch_addr(addr: usize) {
    if addr != 0 {
        prefetch(std::ptr::without_provenance(addr), 1);
    }
}

/// Asks the processor to start loading `len` bytes at `p` into its caches. A hint only: it
/// never faults and changes no memory, whatever `p` is.
#[inline]
fn prefetch(p: *const u8, len: usize) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        let mut off = 0;
        while off < len {
            // SAFETY: a prefetch instruction does not access memory architecturally and
            // cannot fault, so any address is acceptable; SSE is part of x86_64's baseline.
            #[allow(unsafe_code)]
            unsafe {
                _mm_prefetch::<_MM_HINT_T0>(p.wrapping_add(off).cast());
            }
            off += 64;
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (p, len);
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::*;

    #[derive(Debug, Clone)]
    enum Op {
        Insert(u64, u32),
        Remove(u64),
    }

    fn op() -> impl Strategy<Value = Op> {
        // Mostly small, clustered references (as a head hands them out), some far apart
        // so that they collide modulo the capacity.
        let r = prop_oneof![0u64..300, (0u64..4).prop_map(|k| k << 20), any::<u64>()];
        prop_oneof![
            (r.clone(), any::<u32>()).prop_map(|(r, v)| Op::Insert(r, v)),
            r.prop_map(Op::Remove),
        ]
    }

    proptest! {
        #[test]
        fn ref_table_matches_a_btreemap(ops in proptest::collection::vec(op(), 0..2000)) {
            let t = RefTable::default();
            let mut model = BTreeMap::new();
            for o in ops {
                match o {
                    Op::Insert(r, v) => prop_assert_eq!(t.insert(r, v), model.insert(r, v)),
                    Op::Remove(r) => prop_assert_eq!(t.remove(r), model.remove(&r)),
                }
            }
            prop_assert_eq!(t.len(), model.len());
            for (r, v) in &model {
                prop_assert_eq!(t.get(*r), Some(*v));
            }
            let mut vals = t.values();
            vals.sort_unstable();
            let mut want: Vec<u32> = model.values().copied().collect();
            want.sort_unstable();
            prop_assert_eq!(vals, want);
        }
    }

    #[test]
    fn sequential_refs_fill_and_empty() {
        let t = RefTable::default();
        for r in 1..=100_000u64 {
            assert_eq!(t.insert(r, r * 2), None);
        }
        assert_eq!(t.len(), 100_000);
        for r in (1..=100_000u64).step_by(3) {
            assert_eq!(t.remove(r), Some(r * 2));
        }
        for r in 1..=100_000u64 {
            assert_eq!(t.get(r), (r % 3 != 1).then_some(r * 2), "ref {r}");
        }
        for r in 1..=100_000u64 {
            t.remove(r);
        }
        assert_eq!(t.len(), 0);
        assert!(!t.contains(5));
    }
}
