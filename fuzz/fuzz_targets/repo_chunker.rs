#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    (haven_fuzzing::target("repo_chunker").expect("listed target").run)(data);
});
