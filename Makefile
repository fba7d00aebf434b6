# texml — build, test and benchmark targets.
GO ?= go
PKGS := ./...

.PHONY: all build test vet unit conformance fuzz bench clean

all: build

build:
	$(GO) build -o bin/texml ./cmd/texml

# The whole suite: static checks, unit tests (race detector on), the
# conformance scenarios and the fuzz seed corpus.
test: vet unit

vet:
	@unformatted="$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))"; \
	if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet $(PKGS)

unit:
	$(GO) test -race -count=1 $(PKGS)

conformance:
	$(GO) test -count=1 -run TestScenarios -v ./conformance

# A longer fuzzing run of the document parser (not part of `make test`).
fuzz:
	$(GO) test ./verbs -run XXX -fuzz FuzzParse -fuzztime 60s

bench:
	$(GO) test -run XXX -bench . -benchmem $(PKGS)

clean:
	rm -rf bin
