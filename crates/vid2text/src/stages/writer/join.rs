//! A keyed join of an input's two halves: the ASR stage's result and, when the input was sent
//! to the visual stage, its visual result. Either may come first.

use std::collections::HashMap;
use std::hash::Hash;

/// Left halves waiting for their right half, and right halves that came first.
pub struct Join<K, L, R> {
    lefts: HashMap<K, L>,
    rights: HashMap<K, R>,
}

impl<K: Eq + Hash, L, R> Default for Join<K, L, R> {
    fn default() -> Self {
        Join {
            lefts: HashMap::new(),
            rights: HashMap::new(),
        }
    }
}

impl<K: Eq + Hash, L, R> Join<K, L, R> {
    /// A left half; `has_right` says whether a right half comes for its key. Returns the pair
    /// once complete: at once without a right half, or when the right half came first.
    pub fn left(&mut self, key: K, left: L, has_right: bool) -> Option<(L, Option<R>)> {
        if !has_right {
            return Some((left, None));
        }
        match self.rights.remove(&key) {
            Some(right) => Some((left, Some(right))),
            None => {
                self.lefts.insert(key, left);
                None
            }
        }
    }

    /// A right half: the pair when its left half is waiting.
    pub fn right(&mut self, key: K, right: R) -> Option<(L, Option<R>)> {
        match self.lefts.remove(&key) {
            Some(left) => Some((left, Some(right))),
            None => {
                self.rights.insert(key, right);
                None
            }
        }
    }

    /// Left halves still waiting, taken out (their right half never came).
    pub fn drain_waiting(&mut self) -> Vec<L> {
        self.lefts.drain().map(|(_, l)| l).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn halves_meet_in_either_order() {
        let mut j: Join<u32, &str, i32> = Join::default();
        assert_eq!(j.left(1, "alone", false), Some(("alone", None)));
        assert_eq!(j.left(2, "asr first", true), None);
        assert_eq!(j.right(3, 30), None);
        assert_eq!(j.right(2, 20), Some(("asr first", Some(20))));
        assert_eq!(
            j.left(3, "visual first", true),
            Some(("visual first", Some(30)))
        );
        assert_eq!(j.left(4, "never joined", true), None);
        assert_eq!(j.drain_waiting(), vec!["never joined"]);
        assert!(j.drain_waiting().is_empty());
    }
}
