//! Fuzzes block decoding: arbitrary bytes never panic, and whatever decodes re-encodes to exactly
//! the input (one canonical encoding per block) and passes through the stateless checks safely.
#![no_main]

use ferrite_core::fuzzing::check_block_bytes;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    check_block_bytes(data);
});
