# mem_coordinator: make, make test, make e2e, make demo, make bench, make install

PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
MANDIR ?= $(PREFIX)/share/man
UNITDIR ?= $(PREFIX)/lib/systemd/system
VERSION := $(shell git describe --tags --always --dirty 2>/dev/null || echo 0.1)

CFLAGS ?= -O2 -g
CFLAGS += -std=gnu11 -Wall -Wextra -Wformat=2 -Wshadow -Wstrict-prototypes -Wpointer-arith
PKG_CFLAGS := $(shell pkg-config --cflags libvirt libxml-2.0)
PKG_LIBS := $(shell pkg-config --libs libvirt libxml-2.0)

PROGRAM := bin/mem_coordinator
UNIT_TESTS := bin/test_policy bin/test_model bin/test_libvirt
SANITIZED_TESTS := $(UNIT_TESTS:bin/%=bin/sanitized/%)
SANITIZE := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer

all: $(PROGRAM)

bin:
	mkdir -p bin

$(PROGRAM): mem_coordinator.c | bin
	$(CC) $(CPPFLAGS) $(CFLAGS) -DVERSION='"$(VERSION)"' $(PKG_CFLAGS) -o $@ $< \
		$(LDFLAGS) $(PKG_LIBS)

# Tests include mem_coordinator.c whole, to reach its static functions;
# those only main calls go unused there.
bin/test_%: tests/test_%.c tests/check.h tests/rules.h mem_coordinator.c | bin
	$(CC) $(CPPFLAGS) $(CFLAGS) -Wno-unused-function -DMEM_COORDINATOR_NO_MAIN -I. $(PKG_CFLAGS) -o $@ $< \
		$(LDFLAGS) $(PKG_LIBS)

# The same tests again with AddressSanitizer and UndefinedBehaviorSanitizer.
bin/sanitized/test_%: tests/test_%.c tests/check.h tests/rules.h mem_coordinator.c
	mkdir -p bin/sanitized
	$(CC) $(CPPFLAGS) $(CFLAGS) $(SANITIZE) -Wno-unused-function -DMEM_COORDINATOR_NO_MAIN -I. $(PKG_CFLAGS) -o $@ $< \
		$(LDFLAGS) $(PKG_LIBS)

# Faults the test driver cannot have, preloaded into the program by tests/program.sh.
bin/faults.so: tests/faults.c | bin
	$(CC) $(CPPFLAGS) $(CFLAGS) -shared -fPIC $(PKG_CFLAGS) -o $@ $< $(LDFLAGS) -ldl

test: $(PROGRAM) $(UNIT_TESTS) $(SANITIZED_TESTS) bin/faults.so
	tests/run

# libFuzzer (clang and libclang-rt-14-dev) on the statistics a guest reports
# and on the command line, FUZZ_SECONDS each; a finding stops it non-zero.
FUZZ_SECONDS ?= 60
FUZZ_CC ?= clang
FUZZ_FLAGS := -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all

bin/fuzz_stats: tests/fuzz_stats.c tests/check.h tests/rules.h mem_coordinator.c | bin
	$(FUZZ_CC) $(FUZZ_FLAGS) -Wno-unused-function -DMEM_COORDINATOR_NO_MAIN -I. $(PKG_CFLAGS) -o $@ $< $(PKG_LIBS)

bin/fuzz_options: tests/fuzz_options.c mem_coordinator.c | bin
	$(FUZZ_CC) $(FUZZ_FLAGS) -Wno-unused-function -DMEM_COORDINATOR_NO_MAIN -I. $(PKG_CFLAGS) -o $@ $< $(PKG_LIBS) -Wl,--wrap=exit

fuzz: bin/fuzz_stats bin/fuzz_options
	mkdir -p bin/fuzz/stats bin/fuzz/options
	bin/fuzz_stats -max_total_time=$(FUZZ_SECONDS) -artifact_prefix=bin/fuzz/ bin/fuzz/stats
	bin/fuzz_options -max_total_time=$(FUZZ_SECONDS) -artifact_prefix=bin/fuzz/ bin/fuzz/options

# Real guests under libvirtd and QEMU; as root. Both install what they lack.
e2e:
	tests/e2e/run

demo:
	tools/demo

# Both policies side by side on real guests; as root, not part of CI.
bench: $(PROGRAM)
	tools/bench

format:
	clang-format -i mem_coordinator.c tests/*.c tests/*.h

install: $(PROGRAM)
	install -D -m 755 $(PROGRAM) $(DESTDIR)$(BINDIR)/mem_coordinator
	install -D -m 644 mem_coordinator.1 $(DESTDIR)$(MANDIR)/man1/mem_coordinator.1
	mkdir -p $(DESTDIR)$(UNITDIR)
	sed 's|@BINDIR@|$(BINDIR)|' mem_coordinator.service >$(DESTDIR)$(UNITDIR)/mem_coordinator.service
	chmod 644 $(DESTDIR)$(UNITDIR)/mem_coordinator.service

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/mem_coordinator $(DESTDIR)$(MANDIR)/man1/mem_coordinator.1 \
		$(DESTDIR)$(UNITDIR)/mem_coordinator.service

clean:
	rm -rf bin

.PHONY: all test fuzz e2e demo bench format install uninstall clean
