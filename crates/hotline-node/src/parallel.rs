//! Work on long lists spread over the machine's cores: reading a long
//! case from one snapshot, and writing or reading its JSON.
//!
//! A 5,000-message thread is about 5 MB of JSON; one core encodes it in
//! about 8 ms and decodes it in about 14 ms, a third of the time a thread
//! takes to show. Each message is its own JSON value, so the array is cut
//! into runs that are encoded (or decoded) at once and joined in order.

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::value::RawValue;

/// Below this many items, [`split_work`] runs on the calling thread alone:
/// starting threads costs more than it saves.
const SPLIT_AT: usize = 256;

/// Runs `work` over `items` cut into one run per core (at most four), and
/// joins the results in order.
pub(crate) fn split_work<T: Sync, R: Send, E: Send>(
    items: &[T],
    work: impl Fn(&[T]) -> Result<Vec<R>, E> + Sync,
) -> Result<Vec<R>, E> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()).min(4);
    if cores < 2 || items.len() < SPLIT_AT {
        return work(items);
    }
    let work = &work;
    std::thread::scope(|scope| {
        let runs: Vec<_> =
            items.chunks(items.len().div_ceil(cores)).map(|chunk| scope.spawn(move || work(chunk))).collect();
        let mut out = Vec::with_capacity(items.len());
        for run in runs {
            match run.join() {
                Ok(result) => out.extend(result?),
                // A read that panicked: the caller's task reports it.
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        Ok(out)
    })
}

/// `items` as one JSON array, the same bytes as `serde_json::to_vec`,
/// each run of items encoded on its own core.
pub(crate) fn encode_list<T: Serialize + Sync>(items: &[T]) -> serde_json::Result<Vec<u8>> {
    let runs = split_work(items, |run| Ok::<_, serde_json::Error>(vec![serde_json::to_vec(run)?]))?;
    // Each run is `[a,b,…]`: drop the brackets and join with commas.
    let mut out = Vec::with_capacity(runs.iter().map(Vec::len).sum::<usize>() + 2);
    out.push(b'[');
    for run in runs.iter().filter(|run| run.len() > 2) {
        if out.len() > 1 {
            out.push(b',');
        }
        out.extend_from_slice(&run[1..run.len() - 1]);
    }
    out.push(b']');
    Ok(out)
}

/// A JSON array read back as `T`s: one pass finds where each element
/// lies, then runs of elements are decoded on their own cores.
pub(crate) fn decode_list<T: DeserializeOwned + Send>(bytes: &[u8]) -> serde_json::Result<Vec<T>> {
    let raw: Vec<&RawValue> = serde_json::from_slice(bytes)?;
    split_work(&raw, |run| run.iter().map(|value| serde_json::from_str(value.get())).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_work_keeps_the_order_and_stops_at_an_error() {
        let items: Vec<u32> = (0..1_000).collect();
        let doubled = split_work(&items, |chunk| Ok::<_, String>(chunk.iter().map(|n| n * 2).collect())).unwrap();
        assert_eq!(doubled, items.iter().map(|n| n * 2).collect::<Vec<_>>());
        let failed = split_work(&items, |chunk| {
            if chunk.contains(&999) { Err(format!("bad chunk from {}", chunk[0])) } else { Ok(chunk.to_vec()) }
        });
        assert!(failed.unwrap_err().starts_with("bad chunk"));
        // A short list is not worth a thread: it runs where it was called.
        let here = std::thread::current().id();
        let ran_on = split_work(&[1, 2, 3], |_| Ok::<_, ()>(vec![std::thread::current().id()])).unwrap();
        assert_eq!(ran_on, [here]);
    }

    #[test]
    fn a_list_is_encoded_and_decoded_as_serde_json_does() {
        for n in [0usize, 1, 3, 255, 256, 257, 1_000, 4_099] {
            let items: Vec<(u32, String)> = (0..n as u32).map(|i| (i, format!("item \"{i}\"\n"))).collect();
            let encoded = encode_list(&items).unwrap();
            assert_eq!(encoded, serde_json::to_vec(&items).unwrap(), "{n} items");
            assert_eq!(decode_list::<(u32, String)>(&encoded).unwrap(), items, "{n} items");
        }
        // What serde_json refuses is refused here too.
        assert!(decode_list::<u32>(b"[1,2").is_err());
        assert!(decode_list::<u32>(b"{\"a\":1}").is_err());
        let mut bad: Vec<u8> = serde_json::to_vec(&vec![1u32; 600]).unwrap();
        bad[1_000] = b'x';
        assert!(decode_list::<u32>(&bad).is_err());
        let text: Vec<u8> = serde_json::to_vec(&vec!["a"; 600]).unwrap();
        assert!(decode_list::<u32>(&text).is_err());
    }
}
