# mem_coordinator: make, make test, make sim, make mutants, make e2e, make demo,
# make bench, make install, make deb, make systemd-test
# The Debian packages each target needs are listed in tools/deps. make test,
# make fuzz, make e2e, make demo and make bench install what they lack when
# run as root; make alone installs nothing and names what it lacks.

PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
MANDIR ?= $(PREFIX)/share/man
UNITDIR ?= $(PREFIX)/lib/systemd/system
TMPFILESDIR ?= $(PREFIX)/lib/tmpfiles.d
# polkit reads rules from here and /etc only, whatever the PREFIX.
POLKITRULESDIR ?= /usr/share/polkit-1/rules.d
# The unit reads its options from $(SYSCONFDIR)/default/mem_coordinator,
# where admins look for them whatever the PREFIX.
SYSCONFDIR ?= /etc
VERSION := $(shell git describe --tags --always --dirty 2>/dev/null || echo 0.1)

CFLAGS ?= -O2 -g
CFLAGS += -std=gnu11 -Wall -Wextra -Wformat=2 -Wshadow -Wstrict-prototypes -Wpointer-arith
PKG_CFLAGS := $(shell pkg-config --cflags libvirt libxml-2.0 2>/dev/null)
PKG_LIBS := $(shell pkg-config --libs libvirt libxml-2.0 2>/dev/null)

PROGRAM := bin/mem_coordinator
UNIT_TESTS := bin/test_policy bin/test_model bin/test_libvirt
SANITIZED_TESTS := $(UNIT_TESTS:bin/%=bin/sanitized/%)
SANITIZE := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer

all: $(PROGRAM)

bin:
	mkdir -p bin

$(PROGRAM): mem_coordinator.c | bin
	@tools/deps --check build
	$(CC) $(CPPFLAGS) $(CFLAGS) -DVERSION='"$(VERSION)"' $(PKG_CFLAGS) -o $@ $< \
		$(LDFLAGS) $(PKG_LIBS)

# Tests include mem_coordinator.c whole, to reach its static functions;
# those only main calls go unused there.
bin/test_%: tests/test_%.c tests/check.h tests/rules.h mem_coordinator.c | bin
	$(CC) $(CPPFLAGS) $(CFLAGS) -Wno-unused-function -DMEM_COORDINATOR_NO_MAIN -I. $(PKG_CFLAGS) -o $@ $< \
		$(LDFLAGS) $(PKG_LIBS)

# The host simulator (docs/simulator.md): the program's own balloon model and
# policies against generated hosts, scored against an oracle. SIM_HOSTS
# hosts (300) from SIM_SEED (1).
bin/sim: tests/sim/sim.c tests/sim/model.h tests/check.h mem_coordinator.c | bin
	$(CC) $(CPPFLAGS) $(CFLAGS) -Wno-unused-function -DMEM_COORDINATOR_NO_MAIN -I. -Itests $(PKG_CFLAGS) -o $@ $< \
		$(LDFLAGS) $(PKG_LIBS)

sim: bin/sim
	bin/sim

# The same tests again with AddressSanitizer and UndefinedBehaviorSanitizer.
bin/sanitized/test_%: tests/test_%.c tests/check.h tests/rules.h mem_coordinator.c
	mkdir -p bin/sanitized
	$(CC) $(CPPFLAGS) $(CFLAGS) $(SANITIZE) -Wno-unused-function -DMEM_COORDINATOR_NO_MAIN -I. $(PKG_CFLAGS) -o $@ $< \
		$(LDFLAGS) $(PKG_LIBS)

# Faults the test driver cannot have, preloaded into the program by tests/program.sh.
bin/faults.so: tests/faults.c | bin
	$(CC) $(CPPFLAGS) $(CFLAGS) -shared -fPIC $(PKG_CFLAGS) -o $@ $< $(LDFLAGS) -ldl

# The build starts in a second make, which finds pkg-config's answer once
# the packages are in.
test:
	@tools/deps build test
	@$(MAKE) --no-print-directory test-build
	tests/run

test-build: $(PROGRAM) $(UNIT_TESTS) $(SANITIZED_TESTS) bin/faults.so bin/sim
	@:

# libFuzzer (clang and libclang-rt-14-dev) on the statistics a guest reports
# and on the command line, FUZZ_SECONDS each; a finding stops it non-zero.
FUZZ_SECONDS ?= 60
FUZZ_CC ?= clang
FUZZ_FLAGS := -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all

bin/fuzz_stats: tests/fuzz_stats.c tests/check.h tests/rules.h mem_coordinator.c | bin
	$(FUZZ_CC) $(FUZZ_FLAGS) -Wno-unused-function -DMEM_COORDINATOR_NO_MAIN -I. $(PKG_CFLAGS) -o $@ $< $(PKG_LIBS)

bin/fuzz_options: tests/fuzz_options.c mem_coordinator.c | bin
	$(FUZZ_CC) $(FUZZ_FLAGS) -Wno-unused-function -DMEM_COORDINATOR_NO_MAIN -I. $(PKG_CFLAGS) -o $@ $< $(PKG_LIBS) -Wl,--wrap=exit

fuzz:
	@tools/deps build fuzz
	@$(MAKE) --no-print-directory fuzz-build
	mkdir -p bin/fuzz/stats bin/fuzz/options
	bin/fuzz_stats -max_total_time=$(FUZZ_SECONDS) -artifact_prefix=bin/fuzz/ bin/fuzz/stats
	bin/fuzz_options -max_total_time=$(FUZZ_SECONDS) -artifact_prefix=bin/fuzz/ bin/fuzz/options

fuzz-build: bin/fuzz_stats bin/fuzz_options
	@:

# Changes the tests once let through (tests/mutants/*.patch), each applied
# to a copy of the tree: every one must make its test fail. Not part of make
# test: it builds a copy per mutant (two to four minutes).
mutants:
	@tools/deps build test fuzz
	tests/mutants/run

# Real guests under libvirtd and QEMU; as root.
e2e:
	tests/e2e/run

demo:
	tools/demo

# Both policies side by side on real guests; as root, not part of CI.
bench:
	tools/bench

format:
	clang-format -i mem_coordinator.c tests/*.c tests/*.h tests/sim/*.c tests/sim/*.h

# The default file is the admin's once installed: a second make install
# leaves an existing one alone.
install: $(PROGRAM)
	install -D -m 755 $(PROGRAM) $(DESTDIR)$(BINDIR)/mem_coordinator
	install -D -m 644 mem_coordinator.1 $(DESTDIR)$(MANDIR)/man1/mem_coordinator.1
	mkdir -p $(DESTDIR)$(UNITDIR)
	sed -e 's|@BINDIR@|$(BINDIR)|' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|' mem_coordinator.service \
		>$(DESTDIR)$(UNITDIR)/mem_coordinator.service
	chmod 644 $(DESTDIR)$(UNITDIR)/mem_coordinator.service
	install -D -m 644 mem_coordinator.tmpfiles $(DESTDIR)$(TMPFILESDIR)/mem_coordinator.conf
	install -D -m 644 mem_coordinator.rules $(DESTDIR)$(POLKITRULESDIR)/60-mem_coordinator.rules
	test -e $(DESTDIR)$(SYSCONFDIR)/default/mem_coordinator || \
		install -D -m 644 mem_coordinator.default $(DESTDIR)$(SYSCONFDIR)/default/mem_coordinator

# An edited default file holds the admin's settings: only the one make
# install put there unchanged goes.
uninstall:
	rm -f $(DESTDIR)$(BINDIR)/mem_coordinator $(DESTDIR)$(MANDIR)/man1/mem_coordinator.1 \
		$(DESTDIR)$(UNITDIR)/mem_coordinator.service $(DESTDIR)$(TMPFILESDIR)/mem_coordinator.conf \
		$(DESTDIR)$(POLKITRULESDIR)/60-mem_coordinator.rules
	if cmp -s mem_coordinator.default $(DESTDIR)$(SYSCONFDIR)/default/mem_coordinator; then \
		rm -f $(DESTDIR)$(SYSCONFDIR)/default/mem_coordinator; \
	elif [ -e $(DESTDIR)$(SYSCONFDIR)/default/mem_coordinator ]; then \
		echo "kept $(DESTDIR)$(SYSCONFDIR)/default/mem_coordinator: it differs from the shipped one"; \
	fi

# The Debian package, built by dpkg-buildpackage from a copy of the working
# tree in bin/deb, where the .deb lands; then lintian, if installed, fails
# the build on an error. Its version is debian/changelog's latest, then
# +git, the commit's date and its hash: 0.1+git20261201.2fb9961.
PKG_VERSION = $(shell dpkg-parsechangelog -S Version)+git$(shell git log -1 --format=%cd.%h --date=format:%Y%m%d)

deb:
	@tools/deps build deb
	rm -rf bin/deb
	mkdir -p bin/deb/src
	tar --exclude=./bin --exclude=./.git -cf - . | tar -C bin/deb/src -xf -
	sed -i '1s/([^)]*)/($(PKG_VERSION))/' bin/deb/src/debian/changelog
	cd bin/deb/src && dpkg-buildpackage -us -uc -b
	! command -v lintian >/dev/null || lintian --fail-on error bin/deb/*.changes

# The package under a real systemd, in a Debian root booted with
# systemd-nspawn; as root, not part of make test.
systemd-test: deb
	@tools/deps systemd
	tests/systemd/run bin/deb/mem-coordinator_*.deb

clean:
	rm -rf bin

.PHONY: all test test-build fuzz fuzz-build mutants sim e2e demo bench format install uninstall deb systemd-test clean
