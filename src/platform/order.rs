//! A stable sort for the image's short lists (a function's BARs, a bridge
//! window's items, an IOMMU's masters: tens of elements at most).
//!
//! `slice::sort_by_key` is a stable driftsort; each instance costs about
//! 3 KiB of the image (docs/performance.md, "Footprint"), and the lists it
//! sorted here are a handful of elements long.  Insertion sort keeps the
//! same stable order in about a tenth of the code, at O(n²) compares.

/// Sorts `v` by `key`, keeping the order of elements with equal keys (the
/// result `slice::sort_by_key` gives).  Quadratic: for short lists only.
pub fn sort_small_by_key<T, K: Ord>(v: &mut [T], mut key: impl FnMut(&T) -> K) {
    for i in 1..v.len() {
        let mut j = i;
        // Move v[i] left past every element with a strictly greater key.
        while j > 0 && key(&v[j - 1]) > key(&v[j]) {
            v.swap(j - 1, j);
            j -= 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::sort_small_by_key;

    #[test]
    fn matches_the_stable_library_sort() {
        // Every list of up to 7 elements with keys 0..3 (ties everywhere):
        // the tag (original position) shows whether equal keys kept order.
        for len in 0..=7usize {
            for code in 0..3usize.pow(len as u32) {
                let mut c = code;
                let v: Vec<(u8, usize)> = (0..len)
                    .map(|i| {
                        let k = (c % 3) as u8;
                        c /= 3;
                        (k, i)
                    })
                    .collect();
                let mut ours = v.clone();
                sort_small_by_key(&mut ours, |e| e.0);
                let mut lib = v.clone();
                lib.sort_by_key(|e| e.0);
                assert_eq!(ours, lib, "input {v:?}");
            }
        }
    }
}
