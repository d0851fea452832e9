# authd — the two commands a new machine needs are `make run` and `make test`.
GO       ?= go
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -X main.version=$(VERSION)
BENCHTIME ?= 2s

.PHONY: run build test test-short bench load lint fmt clean redis example chromium screenshots

## run: start authd on the embedded store in dev mode (prints the admin token and a first-token curl)
run:
	$(GO) run -ldflags "$(LDFLAGS)" ./cmd/authd serve --dev

## build: build the authd binary into bin/
build:
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/authd ./cmd/authd

## redis: make sure a Redis answers on 127.0.0.1:6379 (installs/starts one if not)
redis:
	@bash scripts/ensure-redis.sh

## chromium: make sure Debian's chromium is installed (the browser test drives it headless)
chromium:
	@bash scripts/ensure-chromium.sh

## screenshots: run the browser test and write the pages' screenshots into docs/screenshots
screenshots: redis chromium
	AUTHD_SCREENSHOTS=docs/screenshots $(GO) test -count=1 -run '^TestBrowser(SignIn|FrontchannelLogout)$$' ./internal/app/

# RACE_PKGS are the packages with concurrency (store backends, tokens, keys,
# feed, the client cache, users, the HTTP server, the webhook sender, the
# wired app and the example resource server): `make test` runs them under
# the race detector. The rest (CLI, config, the load test, cmd/authd, which
# execs a plain binary) run without it.
RACE_PKGS  ?= ./store/bolt/ ./store/redis/ ./tokens/ ./keys/ ./feed/ ./clients/ ./users/ ./server/ ./internal/webhook/ ./internal/app/ ./examples/...
# MODULES are the Go modules of the repository. `go test ./...` at the root
# does not descend into a nested module, so each is named here; the
# verifier module (its own go.mod, see verifier/CHANGELOG.md) runs whole
# under the race detector.
MODULES    := . ./verifier
race_list   = $(shell $(GO) list $(RACE_PKGS))
plain_list  = $(filter-out $(race_list),$(shell $(GO) list ./...))

## recipes: install node + jose and PyJWT for the verification recipes (recipes/), which `make test` runs
.PHONY: recipes
recipes:
	@bash scripts/ensure-recipes.sh

## test: every test, against the real bbolt and Redis stores; RACE_PKGS under -race
test: redis recipes chromium lint
	$(GO) test -count=1 -timeout 15m -race $(race_list)
	$(GO) test -count=1 -timeout 15m $(plain_list)
	cd verifier && $(GO) test -count=1 -timeout 15m -race ./...

# BENCH_DIR keeps the tables of the last two `make bench` runs (machine
# specific, so not committed: .gitignore has /.bench/).
BENCH_DIR ?= .bench

## bench: Go benchmarks of the hot paths, then a load run against a real server on loopback; the table goes to $(BENCH_DIR)/last.txt and is compared with the previous run's (ratios; never fails on noise)
bench: redis
	@mkdir -p $(BENCH_DIR)
	@{ \
	  $(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) ./keys/ ./server/ ./tokens/ ./store/... ./clients/ ./internal/verifierbench/ && \
	  ( cd verifier && $(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) ./... ) && \
	  $(GO) run ./internal/loadtest -sentinel; \
	  echo $$? > $(BENCH_DIR)/run.status; \
	} 2>&1 | tee $(BENCH_DIR)/run.txt
	@status=$$(cat $(BENCH_DIR)/run.status); rm -f $(BENCH_DIR)/run.status; \
	if [ "$$status" != 0 ]; then \
	  echo "bench failed (exit $$status): its output is in $(BENCH_DIR)/run.txt; $(BENCH_DIR)/last.txt is kept"; exit $$status; \
	fi; \
	if [ -f $(BENCH_DIR)/last.txt ]; then mv $(BENCH_DIR)/last.txt $(BENCH_DIR)/previous.txt; fi; \
	mv $(BENCH_DIR)/run.txt $(BENCH_DIR)/last.txt; \
	if [ -f $(BENCH_DIR)/previous.txt ]; then \
	  echo; echo "$(BENCH_DIR)/last.txt compared with the previous run, $(BENCH_DIR)/previous.txt:"; \
	  $(GO) run ./internal/loadtest/benchdiff $(BENCH_DIR)/previous.txt $(BENCH_DIR)/last.txt; \
	else echo; echo "table saved to $(BENCH_DIR)/last.txt: the next make bench compares with it"; fi

## lint: gofmt, go vet and go mod tidy must be clean
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	@for dir in $(MODULES); do ( cd $$dir && $(GO) vet ./... ) || exit 1; done
	@for mod in $$(git ls-files 'go.mod' '*/go.mod' 2>/dev/null || echo go.mod); do \
	  dir=$$(dirname $$mod); \
	  ( cd $$dir && $(GO) mod tidy -diff ) || { echo "go.mod of $$dir is not tidy: run go mod tidy there"; exit 1; }; \
	done

## example: the example resource server (examples/resource-server) against `make run` on this machine
example:
	$(GO) run ./examples/resource-server

fmt:
	gofmt -w $$(git ls-files '*.go')

clean:
	rm -rf bin data
