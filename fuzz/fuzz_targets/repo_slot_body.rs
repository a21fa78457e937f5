#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    (haven_fuzzing::target("repo_slot_body").expect("listed target").run)(data);
});
