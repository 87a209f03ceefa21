# cinder.multiattach: build, test and run the collection.
# `make demo` runs the main job on the local lab; `make test` runs every test.
SHELL := /bin/bash
.DEFAULT_GOAL := build
# Go from /usr/local/go, then Debian's tools. Ansible is never taken from
# PATH: every Ansible command runs through hack/controller with one of the
# pinned controllers of hack/toolchain (.tools/).
export PATH := /usr/local/go/bin:$(CURDIR)/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin:$(PATH)
GO ?= go
NEWEST := hack/controller newest

# A module is a doc file plugins/modules/<name>.py and an action plugin
# plugins/action/<name>.py that runs its binary from the target's module cache.
# The binaries are cmd/<binary>, built into plugins/bin/<GOOS>_<GOARCH>/<binary>:
#   cluster_conf  the cluster_conf module                      Linux amd64, arm64
#   clusterfs     the gfs2_fs and ocfs2_fs modules              Linux amd64, arm64
#   openstack     the multiattach_volume module (controller),   Linux, macOS; amd64, arm64
#                 and fence_nova, the gfs2 role's fence agent
# Each action plugin names its binary and platforms
# (plugins/plugin_utils/go_module.py); hack/integration checks the tarball
# against them. Any other cmd/<name> is a developer tool built into bin/.
# (make demo builds only this machine's platform: PLATFORMS=linux_amd64)
ALL_NODE_PLATFORMS := linux_amd64 linux_arm64
ALL_CONTROLLER_PLATFORMS := $(ALL_NODE_PLATFORMS) darwin_amd64 darwin_arm64
PLATFORMS ?= $(ALL_CONTROLLER_PLATFORMS)
NODE_PLATFORMS := $(filter $(PLATFORMS),$(ALL_NODE_PLATFORMS))
CONTROLLER_PLATFORMS := $(filter $(PLATFORMS),$(ALL_CONTROLLER_PLATFORMS))
NODE_BINARIES := cluster_conf clusterfs
CONTROLLER_BINARIES := openstack
TOOLS := $(filter-out $(NODE_BINARIES) $(CONTROLLER_BINARIES),$(notdir $(wildcard cmd/*)))
VERSION := $(shell sed -n 's/^version: *//p' galaxy.yml)
COLLECTION := dist/cinder-multiattach-$(VERSION).tar.gz
# Static and reproducible: the same commit gives the same bytes.
BUILD_FLAGS := -trimpath -ldflags "-s -w"

.PHONY: build modules tools collection deps toolchain unit lint sanity integration \
	integration-2.19 integration-2.14 integration-arm64 bench test clean

build: modules tools

# binary NAME PLATFORM
define binary
	CGO_ENABLED=0 GOOS=$(word 1,$(subst _, ,$(2))) GOARCH=$(word 2,$(subst _, ,$(2))) \
	  $(GO) build $(BUILD_FLAGS) -o plugins/bin/$(2)/$(1) ./cmd/$(1)

endef

modules:
	$(foreach b,$(NODE_BINARIES),$(foreach p,$(NODE_PLATFORMS),$(call binary,$(b),$(p))))
	$(foreach b,$(CONTROLLER_BINARIES),$(foreach p,$(CONTROLLER_PLATFORMS),$(call binary,$(b),$(p))))

tools:
	@mkdir -p bin; for t in $(TOOLS); do CGO_ENABLED=0 $(GO) build $(BUILD_FLAGS) -o bin/$$t ./cmd/$$t || exit 1; done

collection: modules
	@mkdir -p dist; rm -f $(COLLECTION)
	@[ -x .tools/newest/bin/ansible-galaxy ] || hack/toolchain newest-core
	CONTROLLER_QUIET=1 $(NEWEST) ansible-galaxy collection build --force --output-path dist .
	@echo "built $(COLLECTION)"

# Everything the tests need: Debian packages, Go modules, staticcheck, and
# the pinned Python controllers (hack/toolchain).
deps:
	hack/deps test

# The Python controllers alone (hack/toolchain; make deps installs them too).
toolchain:
	hack/toolchain

# Go unit tests (fast; fakes only).
unit:
	$(GO) test ./...

lint:
	hack/lint

# ansible-test sanity with the newest ansible-core, on a copy of the tree
# laid out as ansible_collections/cinder/multiattach.
sanity:
	hack/sanity

# Ansible integration playbooks on localhost against the installed collection,
# with the newest ansible-core; then with 2.19 and with the oldest claimed.
integration: collection
	$(NEWEST) hack/integration

integration-2.19: collection
	hack/controller ansible-2.19 hack/integration

integration-2.14: collection
	hack/controller ansible-2.14 hack/integration

# The node modules' integration tests once more, with their linux/arm64
# binaries under qemu-user (binfmt_misc).
integration-arm64: collection
	IT_ARCH=arm64 TESTS="cluster_conf gfs2_fs ocfs2_fs" $(NEWEST) hack/integration

bench:
	hack/bench

# The whole test suite, as CI runs it (.ci/run calls this).
test:
	hack/test

clean:
	rm -rf bin dist build plugins/bin

### lab (issue 7) ###########################################################
# The lab: VMs on this machine sharing a volume as Cinder multi-attach does.
# LAB names the lab (.lab/$(LAB)); several labs can be up side by side.
LAB ?= default
NODES ?= 3
NODE ?= 1
FS ?= gfs2
.PHONY: lab-up lab-down lab-ssh lab-inventory lab-e2e demo molecule-gfs2 molecule-ocfs2

lab-up: tools
	bin/lab up --lab $(LAB) --nodes $(NODES)

lab-down: tools
	bin/lab down --lab $(LAB)

# A shell on node $(NODE), or CMD='...' run there: make fails when it fails
# (bin/lab ssh itself exits with the command's own status).
lab-ssh: tools
	@bin/lab ssh --lab $(LAB) $(NODE) $(CMD)

lab-inventory: tools
	@bin/lab inventory --lab $(LAB)

# Two VMs, one hot-plugged shared volume, bytes written on one raw device and
# read on the other, nothing left running (a phase of make test).
lab-e2e: tools
	LAB_E2E=1 $(GO) test -count=1 -timeout 30m -run 'TestE2E' -v ./internal/lab/

# The main job on the lab: three nodes, one shared volume, FS=gfs2 or ocfs2.
demo:
	FS=$(FS) NODES=$(NODES) LAB=$(LAB) hack/demo

# Molecule's own `molecule test` of a scenario (molecule/<scenario>) on the lab.
molecule-gfs2: build
	$(NEWEST) molecule test -s gfs2

molecule-ocfs2: build
	$(NEWEST) molecule test -s ocfs2

### real OpenStack (issue 6) ################################################
# A real single-node OpenStack (Debian 12's Zed packages, fake virt driver,
# LVM metadata on a loop device) on 127.0.0.1: hack/realos/realos.
.PHONY: realos-up realos-down realos-test

realos-up:
	hack/realos/realos up

# Stops every process realos started and detaches its loop device; the state
# (databases, keys) stays in /var/tmp/cinder-realos for a faster next up.
realos-down:
	hack/realos/realos down

# up, servers + multiattach type, tests/integration/multiattach_volume.yml
# against the real cloud, clean-up, down.
realos-test: collection
	hack/realos/realos test
