# The two commands of README.md.
.PHONY: run test bench soak
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
