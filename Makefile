# eventfn — the two commands: `make run` and `make test`.
SHELL := /bin/bash
GO ?= go

# make run takes every setting from the environment. With no keys at all it
# uses a local pair so the printed curl works as pasted, and it keeps a
# consumer draining. These defaults are run's only: tests set their own.
ifeq ($(origin API_KEYS)$(origin API_KEYS_FILE)$(origin AUTH_DISABLED),undefinedundefinedundefined)
run: export API_KEYS := wk_local_dev=demo:write,rk_local_dev=demo:read
endif
run: export CONSUME_CONTINUOUS ?= true
run: export ARCHIVE_URL ?= file://$(CURDIR)/.run/archive
run: export ARCHIVE_EVERY ?= 1h

.PHONY: run test services services-for-tests check build bench drill clean

## run: start PostgreSQL, Redis and NATS if needed, then serve every function at http://127.0.0.1:8080/function/<name>
## The gateway is built (a local tool, not a function image) and exec'd, so that
## Ctrl-C ends make with the gateway's clean shutdown, not with `go run`'s exit 1.
run: services
	$(GO) build -o .run/gateway ./cmd/gateway
	exec .run/gateway

# The short fault drill (shared/drill) fails here, not skips, without the
# PostgreSQL and Redis programs it starts itself.
test: export EVENTFN_TEST_DRILL := require
## test: the same service set-up, then formatting, vet and every test with the race detector,
## then the deployment files checked by their platforms' own parsers (deploy/validate)
test: services-for-tests check
	$(GO) test -race -count=1 -timeout 30m ./...
	cd deploy/validate && $(GO) test -count=1 -timeout 20m ./...

services:
	@scripts/services

# The same, plus the redis-server binary the fault drills start themselves.
services-for-tests:
	@scripts/services --for-tests

check:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	cd deploy/validate && $(GO) vet ./...
	cd deploy/launch && $(GO) vet ./...

## build: one static binary per function in bin/, built as the image builds it (scripts/build-function)
build:
	@for f in $(patsubst functions/%/,%,$(dir $(wildcard functions/*/main.go))); do \
	  scripts/build-function $$f bin/$$f || exit 1; done

## bench: scripts/bench ingest|consume|stats
bench: services
	scripts/bench $(filter-out bench,$(MAKECMDGOALS))

## drill: the full fault drill on services of its own (scripts/drill; flags in DRILL_ARGS, e.g. DRILL_ARGS="-variant one")
drill:
	scripts/drill $(DRILL_ARGS)

clean:
	rm -rf bin .run
