# The two commands of README.md.
.PHONY: run test bench
run:
	scripts/run.sh
test:
	scripts/test.sh
bench:
	bench/run.sh
