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

.PHONY: run test services services-for-tests check build bench drill clean reset alerts cover

## run: start PostgreSQL, Redis and NATS if needed, then serve every function at http://127.0.0.1:8080/function/<name>
## The gateway is built (a local tool, not a function image) and exec'd, so that
## Ctrl-C ends make with the gateway's clean shutdown, not with `go run`'s exit 1.
## The build lists each package as it compiles (-v): the first one downloads the
## modules and compiles some 460 packages, minutes on 2 cores, and must not look hung.
run: export GOFLAGS += -v
run: services
	@[ -x .run/gateway ] && echo "make run: building the gateway (changed packages are listed)" >&2 || \
	  echo "make run: first build of the gateway: Go downloads the modules (go: downloading ...), then compiles some 460 packages, each listed as it goes; a few minutes on 2 cores, seconds from then on" >&2
	$(GO) build -o .run/gateway ./cmd/gateway
	@echo "make run: built; starting the gateway" >&2
	exec .run/gateway

# The short fault drill (shared/drill) fails here, not skips, without the
# PostgreSQL and Redis programs it starts itself.
test: export EVENTFN_TEST_DRILL := require
## test: the same service set-up, then formatting, vet and every test with the race detector
## (and coverage: a summary at the end), including the short fault drill, then the deployment
## files checked by their platforms' own parsers (deploy/validate), then the alert rules (promtool)
test: services-for-tests check
	$(GO_TEST_COVER)
	cd deploy/validate && $(GO) test -count=1 -timeout 20m ./...
	@$(MAKE) --no-print-directory alerts
	@scripts/coverage $(COVER_PROFILE)

# Coverage comes from the race run itself (atomic counters), per package.
COVER_PROFILE := .run/cover.out
GO_TEST_COVER = mkdir -p .run && $(GO) test -race -count=1 -timeout 30m -coverprofile=$(COVER_PROFILE) ./...

## alerts: the Prometheus alert rules of deploy/prometheus checked and unit-tested by promtool
alerts:
	promtool check rules deploy/prometheus/alerts.yml
	promtool test rules deploy/prometheus/alerts_test.yml

## cover: every Go test, as in make test, then the coverage report as HTML in .run/coverage.html
cover: services-for-tests
	$(GO_TEST_COVER)
	@scripts/coverage $(COVER_PROFILE) .run/coverage.html

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

## bench: scripts/bench ingest|consume|stats (which starts the services itself, after checking its argument)
bench:
	scripts/bench $(filter-out bench,$(MAKECMDGOALS))

## drill: the full fault drill on services of its own (scripts/drill; flags in DRILL_ARGS, e.g. DRILL_ARGS="-variant one")
drill:
	scripts/drill $(DRILL_ARGS)

clean:
	rm -rf bin .run

## reset: drop the local database, streams and Redis keys of the current settings, to start over
## (asks first; RESET_YES=1 does not). The logic is cmd/reset's, a local tool like the gateway.
reset:
	$(GO) build -o .run/reset ./cmd/reset
	@.run/reset $(if $(filter-out 0 false no,$(RESET_YES)),-yes)
