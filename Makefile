.PHONY: test bench bench-report demo
test:
	./dev/test.sh
bench:
	python bench/run_all.py
bench-report:
	python bench/run_all.py --report-only
demo:
	./dev/demo.sh
