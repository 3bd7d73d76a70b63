//! Fuzzes transaction decoding: arbitrary bytes never panic, and whatever decodes re-encodes to
//! exactly the input and can be verified without panicking.
#![no_main]

use ferrite_core::fuzzing::check_tx_bytes;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    check_tx_bytes(data);
});
