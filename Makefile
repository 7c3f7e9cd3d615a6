# patchnet — build and test. `make test` is the one command CI runs
# (.ci/run): it installs what the tests need, checks formatting and vet, and
# runs every test.

GO       ?= go
# Debian packages the tests drive for real: openssl (X.509 interop), rpm and
# rpmbuild (rpm databases and installs; rpmsign and rpmkeys sign and check the
# vendor-signed rpms of updates/origin), gnupg (gpg and gpg-agent make the
# vendor keys and detached signatures updates/origin verifies), dpkg-dev
# (dpkg-deb builds test .debs), dpkg-repack (before-states of packages patchnet
# did not install), curl (the fetch benchmark's baseline), iptables (link
# latency in the netns testnet and its tests: an NFQUEUE rule per namespace,
# the kernel having no netem).
APT_DEPS ?= openssl rpm gnupg dpkg-dev dpkg-repack curl iptables
# Packages whose tests run under the race detector too.
RACE_PKGS ?= ./trust/... ./updates/... ./overlay/... ./node/...

.PHONY: all build test deps fmt-check vet unit race bench fuzz demo quickstart clean

all: build

build:
	$(GO) build -o bin/patchnet ./cmd/patchnet

# deps installs the Debian packages the tests need, only where missing, so a
# developer's machine with them already is left alone.
deps:
	@missing=""; for p in $(APT_DEPS); do \
		dpkg-query -W -f '$${db:Status-Status}' $$p 2>/dev/null | grep -qx installed || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

# unit runs every test, then the node package again against nodelab's
# recording installer (what hosts without dpkg and the testnet use), so
# that path stays honest too.
unit:
	$(GO) test -count=1 -timeout 15m ./...
	PATCHNET_FAKE_INSTALLER=1 $(GO) test -count=1 -timeout 10m ./node/

race:
	$(GO) test -count=1 -race -timeout 10m $(RACE_PKGS)

test: deps fmt-check vet unit race

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

# fuzz runs every fuzz target for FUZZTIME each; new crashers land in the
# package's testdata/fuzz/ to be kept as seeds once fixed. Go minimises each
# input that finds new coverage for up to 60 s, showing no progress while it
# does: the targets behind big dependency trees (node, overlay) looked hung
# with that default, so it is capped here. Go 1.26 can also fail a target at
# the very end of -fuzztime with a bare "context deadline exceeded" and no
# crasher (golang/go#75804, fixed in 1.27): a failure counts only when it
# wrote a failing input.
FUZZTIME ?= 30s
fuzz:
	@for pkg in $$(grep -rl --include='*_test.go' '^func Fuzz' . | xargs -n1 dirname | sort -u); do \
		for f in $$(grep -h '^func Fuzz' $$pkg/*_test.go | sed 's/^func \(Fuzz[A-Za-z0-9_]*\).*/\1/'); do \
			echo "== $$pkg $$f"; \
			before=$$(ls $$pkg/testdata/fuzz/$$f 2>/dev/null | wc -l); \
			if ! $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 5s $$pkg; then \
				after=$$(ls $$pkg/testdata/fuzz/$$f 2>/dev/null | wc -l); \
				[ "$$after" = "$$before" ] || exit 1; \
				echo "== $$f: failed without a failing input (golang/go#75804), not a finding"; \
			fi; \
		done; \
	done

# demo is README's main job: a whole zone (publisher, supernodes, agents
# with sandbox Debian roots) in one process on embedded defaults, publishing
# a fix that every agent must install with dpkg — testnet/sim's propagation
# scenario with real installers. The test dependencies it needs (dpkg-deb)
# come with `make deps`.
demo: deps build
	./bin/patchnet demo

# quickstart walks the offline path command by command (PKI, sign, co-sign,
# apply, history, rollback, refusals) in a temporary directory.
quickstart: deps build
	./scripts/quickstart.sh bin/patchnet

clean:
	rm -rf bin
