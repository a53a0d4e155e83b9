# The project's virtualenv when there is one (./dev/test.sh or ./dev/demo.sh made it).
PY := $(shell [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3)

.PHONY: test bench bench-report hall-day demo
test:
	./dev/test.sh
bench:
	$(PY) bench/run_all.py
bench-report:
	$(PY) bench/run_all.py --report-only
hall-day:
	$(PY) -m bench.hall_day
demo:
	./dev/demo.sh
