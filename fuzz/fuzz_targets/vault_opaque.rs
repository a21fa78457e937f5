#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    (haven_fuzzing::target("vault_opaque").expect("listed target").run)(data);
});
