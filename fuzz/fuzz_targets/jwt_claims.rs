#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    (haven_fuzzing::target("jwt_claims").expect("listed target").run)(data);
});
