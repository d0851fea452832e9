# authd — the two commands a new machine needs are `make run` and `make test`.
GO       ?= go
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -X main.version=$(VERSION)
BENCHTIME ?= 2s

.PHONY: run build test test-short bench load lint fmt clean redis

## run: start authd on the embedded store in dev mode (prints the admin token and a first-token curl)
run:
	$(GO) run -ldflags "$(LDFLAGS)" ./cmd/authd serve --dev

## build: build the authd binary into bin/
build:
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/authd ./cmd/authd

## redis: make sure a Redis answers on 127.0.0.1:6379 (installs/starts one if not)
redis:
	@bash scripts/ensure-redis.sh

## test: every test, against the real bbolt and Redis stores
test: redis lint
	$(GO) test -count=1 -timeout 15m ./...

## bench: Go benchmarks of the hot paths, then a load run against a real server on loopback
bench: redis
	$(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) ./keys/ ./server/ ./tokens/ ./store/... ./clients/
	$(GO) run ./internal/loadtest

## lint: gofmt, go vet and go mod tidy must be clean
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	@for mod in $$(git ls-files 'go.mod' '*/go.mod' 2>/dev/null || echo go.mod); do \
	  dir=$$(dirname $$mod); \
	  ( cd $$dir && $(GO) mod tidy -diff ) || { echo "go.mod of $$dir is not tidy: run go mod tidy there"; exit 1; }; \
	done

fmt:
	gofmt -w $$(git ls-files '*.go')

clean:
	rm -rf bin data
