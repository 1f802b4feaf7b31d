# exp — build, test and try it.
#
#   make demo      install what is missing, build, and run examples/demo.sh
#   make test      install what is missing, build, lint, and run every test
#
# Needs the Swift toolchain (6.0 or newer) on PATH; `make deps` installs the rest with apt
# (libgit2-dev, libsqlite3-dev, libssl-dev, pkg-config, git, python3), using sudo when not root.
#
# BUILD_DIR picks SwiftPM's scratch folder (default .build), e.g. `make test BUILD_DIR=.build-ci`.

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := build

SWIFT ?= swift
BUILD_DIR ?= .build
PREFIX ?= /usr/local
DESTDIR ?=
SWIFTPM := $(SWIFT) build --scratch-path $(BUILD_DIR)
FORMAT_PATHS := Sources Tests

# CLI tests run the binary `swift build` made; tell them where it is for any BUILD_DIR.
EXP_BINARY ?= $(abspath $(BUILD_DIR))/debug/exp
export EXP_BINARY

.PHONY: deps build release lint test demo install bench format clean

## deps: install libgit2-dev, libsqlite3-dev, libssl-dev, pkg-config, git and python3 with apt when missing (quiet when all is there).
deps:
	@command -v $(SWIFT) >/dev/null || { echo "make: the Swift toolchain is missing: install it from https://www.swift.org/install/" >&2; exit 1; }
	@missing=""; \
	pkg-config --exists libgit2 2>/dev/null || missing="$$missing libgit2-dev pkg-config"; \
	pkg-config --exists sqlite3 2>/dev/null || missing="$$missing libsqlite3-dev pkg-config"; \
	pkg-config --exists libcrypto 2>/dev/null || missing="$$missing libssl-dev pkg-config"; \
	command -v git >/dev/null || missing="$$missing git"; \
	command -v python3 >/dev/null || missing="$$missing python3"; \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" -eq 0 ]; then sudo=""; \
		elif command -v sudo >/dev/null; then sudo="sudo"; \
		else echo "make: need root or sudo to install:$$missing" >&2; exit 1; fi; \
		echo "make: installing$$missing"; \
		$$sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq; \
		$$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

## build: debug build of exp (.build/debug/exp).
build: deps
	$(SWIFTPM)

## release: optimised build with the Swift runtime linked in (.build/release/exp; starts faster).
release: deps
	$(SWIFTPM) -c release --static-swift-stdlib

## lint: swift format in strict lint mode over Sources and Tests (CI fails on any finding).
lint:
	$(SWIFT) format lint --strict -r $(FORMAT_PATHS)

## test: deps, build, lint, then every test (unit tests and the CLI tests against the built binary).
test: deps build lint
	$(SWIFT) test --scratch-path $(BUILD_DIR)

## demo: deps, build, then the guided tour in examples/demo.sh.
demo: deps build
	EXP="$(EXP_BINARY)" bash examples/demo.sh

## install: release build, then copy exp to $(PREFIX)/bin (PREFIX=/usr/local by default).
install: release
	install -d "$(DESTDIR)$(PREFIX)/bin"
	install -m 0755 "$(BUILD_DIR)/release/exp" "$(DESTDIR)$(PREFIX)/bin/exp"

## bench: release build, then every bench/*.sh against it (BENCH_ARGS, e.g. a run count, passed on).
bench: release
	@for script in bench/*.sh; do \
		echo "== $$script"; \
		EXP="$(abspath $(BUILD_DIR))/release/exp" bash "$$script" $(BENCH_ARGS); \
	done

## format: rewrite Sources and Tests in place with swift format.
format:
	$(SWIFT) format -i -r $(FORMAT_PATHS)

## clean: remove build outputs and benchmark scratch files.
clean:
	rm -rf "$(BUILD_DIR)" bench/.work
