# mtts set-up and entry points. `make demo` trains the mini voice; `make test` runs the tests.
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
# flite, festvox-kallpc16k, festvox-kdlpc16k: the other voices of recipes/mini_multi;
# gcc, python3.11-dev: the eval extra's webrtcvad (resemblyzer's) installs from source
APT_PACKAGES := espeak-ng festival festvox-us-slt-hts flite festvox-kallpc16k festvox-kdlpc16k sox libsndfile1 \
	chromium chromium-driver gcc python3.11-dev

.PHONY: help sysdeps venv dev demo demo-fast test test-fast clean

help:
	@echo "make demo       set up, build the mini corpus, train model and vocoder (~1 h 25 min), speak"
	@echo "make demo-fast  the same on 24 utterances with a tiny model (about 2 minutes)"
	@echo "make test       set up and run the whole test suite"
	@echo "make test-fast  unit tests only (skips recipe smoke runs)"

# Debian packages, installed only when a command is missing (chromium: the web page's browser test).
sysdeps:
	@missing=""; \
	command -v espeak-ng >/dev/null || missing="$$missing espeak-ng"; \
	command -v text2wave >/dev/null || missing="$$missing festival"; \
	[ -d /usr/share/festival/voices/us/cmu_us_slt_arctic_hts ] || missing="$$missing festvox-us-slt-hts"; \
	command -v flite >/dev/null || missing="$$missing flite"; \
	[ -d /usr/share/festival/voices/english/kal_diphone ] || missing="$$missing festvox-kallpc16k"; \
	[ -d /usr/share/festival/voices/english/ked_diphone ] || missing="$$missing festvox-kdlpc16k"; \
	command -v sox >/dev/null || missing="$$missing sox"; \
	[ -x /usr/bin/chromium ] || missing="$$missing chromium"; \
	[ -x /usr/bin/chromedriver ] || missing="$$missing chromium-driver"; \
	command -v gcc >/dev/null || missing="$$missing gcc"; \
	[ -f /usr/include/python3.11/Python.h ] || missing="$$missing python3.11-dev"; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages: $(APT_PACKAGES)"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $(APT_PACKAGES); \
	fi

$(BIN)/mtts: pyproject.toml
	[ -x $(BIN)/python ] || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e ".[dev,eval,export,serve]"
	touch $@

venv: $(BIN)/mtts

demo: sysdeps venv
	PATH="$(CURDIR)/$(BIN):$$PATH" recipes/mini/run.sh
	@echo "Listen: recipes/mini/exp/train/synth/sample.wav"

demo-fast: sysdeps venv
	PATH="$(CURDIR)/$(BIN):$$PATH" recipes/mini/run.sh --fast true
	@echo "Listen: recipes/mini/exp/tiny/synth/sample.wav"

test: sysdeps venv
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m pytest

test-fast: venv
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m pytest -m "not slow"

clean:
	rm -rf recipes/*/data recipes/*/dump recipes/*/exp
