//! The carrier-side HTTP/1.1 codec (`gateway/src/upstream/h1.rs`, issue 17) on arbitrary answer
//! bytes. The carrier is trusted, but the codec is Sesame's own parser: invariants are no panic,
//! no hang, the body limit held, and the same result whether the bytes arrive at once or a few at
//! a time (a codec that depends on where the socket cuts would misframe the next answer).
#![no_main]

use libfuzzer_sys::fuzz_target;
use sesame_gateway::fuzzing;

const MAX_BODY: usize = 64 * 1024;

fuzz_target!(|data: &[u8]| {
    let Some((&step, wire)) = data.split_first() else {
        return;
    };
    let [whole, trickled] = fuzzing::upstream_answer(wire, usize::from(step % 16) + 1, MAX_BODY);
    assert_eq!(whole, trickled, "delivery changed the result");
    if let Ok((status, body, _)) = &whole {
        assert!(body.len() <= MAX_BODY, "body over the limit");
        assert!((200..=999).contains(status), "interim status {status} returned");
    }
    assert_ne!(whole, Err("pending".to_string()), "the codec waited on a reader that never waits");
});
