# The two commands of README.md, and the proof runs of issue #10.
.PHONY: run test bench soak fuzz sanitize
run:
	scripts/run.sh
test:
	scripts/test.sh
bench:
	bench/run.sh
# Issue 10: 10 minutes of hostile load against a release periscoped (the short variant runs in `make test`).
soak:
	PATH=/opt/swift/usr/bin:$$PATH swift build -c release --product periscoped
	bench/soak.py --duration 600
# Every fuzz target for FUZZ_SECONDS each (fuzz/README.md).
FUZZ_SECONDS ?= 600
fuzz:
	scripts/fuzz.sh $(FUZZ_SECONDS)
# Swift tests and the integration suite under AddressSanitizer, then ThreadSanitizer.
sanitize:
	scripts/sanitize.sh address
	scripts/sanitize.sh thread
