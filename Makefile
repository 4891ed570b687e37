# fastscan build, test and demo targets. Lab tests, benchmarks that use the
# lab and the demo need root (network namespaces).

GO      ?= go
BIN     := bin
IS_ROOT := $(shell [ "$$(id -u)" -eq 0 ] && echo yes)

.PHONY: all build deps test fuzz bench demo compare svbench lint clean testdata install uninstall docs

all: build

## build: static binaries bin/fastscan and bin/fastlab
build:
	CGO_ENABLED=0 $(GO) build -o $(BIN)/fastscan ./cmd/fastscan
	CGO_ENABLED=0 $(GO) build -o $(BIN)/fastlab ./cmd/fastlab

# Where make install puts things: $(DESTDIR)$(PREFIX)/..., as packagers expect
# (make install DESTDIR=/tmp/pkg PREFIX=/usr).
PREFIX      ?= /usr/local
BINDIR      ?= $(PREFIX)/bin
MANDIR      ?= $(PREFIX)/share/man
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
ZSHCOMPDIR  ?= $(PREFIX)/share/zsh/site-functions

## install: build, then install fastscan, its man page (fastscan.1) and its bash and zsh
## completions under $(DESTDIR)$(PREFIX) (PREFIX=/usr/local)
install: build
	install -d "$(DESTDIR)$(BINDIR)" "$(DESTDIR)$(MANDIR)/man1" "$(DESTDIR)$(BASHCOMPDIR)" "$(DESTDIR)$(ZSHCOMPDIR)"
	install -m 755 $(BIN)/fastscan "$(DESTDIR)$(BINDIR)/fastscan"
	install -m 644 docs/fastscan.1 "$(DESTDIR)$(MANDIR)/man1/fastscan.1"
	install -m 644 completion/fastscan.bash "$(DESTDIR)$(BASHCOMPDIR)/fastscan"
	install -m 644 completion/_fastscan "$(DESTDIR)$(ZSHCOMPDIR)/_fastscan"

## uninstall: remove what make install put in place (same PREFIX and DESTDIR)
uninstall:
	rm -f "$(DESTDIR)$(BINDIR)/fastscan" "$(DESTDIR)$(MANDIR)/man1/fastscan.1" \
		"$(DESTDIR)$(BASHCOMPDIR)/fastscan" "$(DESTDIR)$(ZSHCOMPDIR)/_fastscan"

## docs: regenerate the man page and the shell completions from the command line's
## definition (go generate; a test requires the committed files to be identical)
docs:
	$(GO) generate ./cmd/fastscan

## deps: install the lab's system tools (apt-get, only as root and only what is missing)
deps:
	./scripts/install-deps.sh

## test: vet and run every test (the lab tests need root)
test:
ifeq ($(IS_ROOT),yes)
	./scripts/install-deps.sh
endif
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 20m ./...
	$(GO) test -count=1 -race -timeout 10m ./engine/ ./output/ ./ratelimit/ ./link/...
ifeq ($(CI),true)
	$(MAKE) fuzz FUZZTIME=$(CI_FUZZTIME)
endif

# FUZZTIME is how long make fuzz runs each fuzz test: a duration (15s) or a count
# of executions (300000x), as go test -fuzztime takes it.
FUZZTIME ?= 15s

# CI_FUZZTIME is the budget CI (CI=true make test) gives each fuzz test. It is a
# count, not a duration: with a duration, go's fuzzing coordinator can fail a
# target with a bare "context deadline exceeded" when the deadline fires while a
# worker is mid-call on a loaded machine (a race in the coordinator, no crasher
# written); a count has no deadline to race. (scripts/fuzz.sh also tells that
# race from a finding when a duration is given.) Our 14 older fuzz tests run 40k-100k
# executions a second on the 2-core CI machine, so 300000 each is about 3-7 s;
# svcid's three run slower (measured while the shared machine's load average was
# 11-16: FuzzParsers, every banner parser per input, 23k/s, 47 s; FuzzIdentify, a
# whole identification against an in-memory server, 5k/s, about 60 s; FuzzRules
# 31k/s, about 10 s): about 4 minutes in all with the builds on a busy machine.
CI_FUZZTIME ?= 300000x

## fuzz: run every fuzz test of the project for FUZZTIME each (scripts/fuzz.sh); a
## failure leaves its input in the package's testdata/fuzz to reproduce with go test
fuzz:
	GO=$(GO) ./scripts/fuzz.sh $(FUZZTIME)

## bench: the benchmarks in bench/
bench:
	$(GO) test -run '^$$' -bench . -benchmem ./bench/

## demo: run fastscan inside a fresh lab against its ground truth, and -sV against the lab's real servers
## and its SYN proxy host, checked against the installed packages' versions (root; about 15 s)
demo: deps build
	$(BIN)/fastlab demo --scanner $(BIN)/fastscan

## compare: install masscan, zmap and nmap if missing, then run them and fastscan on the
## same workloads in a fresh lab, three rounds, and print one table (root; about 5 minutes)
compare: build
	./scripts/install-deps.sh --compare
	$(BIN)/fastlab compare --scanner $(BIN)/fastscan

## svbench: service identification of 10,000 addresses of a real nginx (AnyIP, in a fresh
## lab) by fastscan -sV, nmap -sV (one round: over an hour here) and the svcid pool alone,
## and one table (root)
svbench: build
	./scripts/install-deps.sh
	$(BIN)/fastlab svbench --scanner $(BIN)/fastscan --count 10000 --rounds 5 --nmap-rounds 1 --timeout 90m

## testdata: re-record the replay captures and golden files in testdata/replay from
## live scans of a fresh lab, and the tcpdumps of nmap scanning it (root), then check
## that they replay
testdata:
	./scripts/install-deps.sh --record
	FASTSCAN_RECORD=1 $(GO) test -count=1 -run '^TestRecord' ./cmd/fastscan/
	$(GO) test -count=1 -run '^TestReplay' ./cmd/fastscan/

## lint: gofmt must have nothing to say, and go vet must pass
lint:
	@out="$$(gofmt -l .)"; if [ -n "$$out" ]; then echo "gofmt -l:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

clean:
	rm -rf $(BIN)
