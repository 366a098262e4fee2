/*
 * The simulator's model of a guest and a host: its numbers, each with where
 * it comes from (docs/simulator.md has the table). "To calibrate" marks a
 * guess that real guests have not measured yet.
 */
#ifndef SIM_MODEL_H
#define SIM_MODEL_H

#define MIB 1024LL

/* benchmarks.md, "How fast each mechanism moves memory": a balloon deflated
 * 512 to 2048 MiB in 1.0 s and inflated 2048 to 512 MiB in 3.1 s. */
#define DEFLATE_KIB_S (1536 * MIB)
#define INFLATE_KIB_S (495 * MIB)
/* Over pages the guest touched (QEMU gives each back to the host): make
 * bench's fast scenario, 2026-12-02, inflated 1690 to 768 MiB in 9 s. */
#define INFLATE_TOUCHED_KIB_S (100 * MIB)
/* To calibrate: a busy guest (its use moving fast) moves its balloon at
 * half speed; its balloon driver's work waits on the CPU like the rest. */
#define BUSY_SLOWDOWN 2
/* A guest whose use moves faster than this a second is busy (to
 * calibrate): its statistics come 0 to BUSY_LATE_MAX_S late, so that a
 * look finds them 1 to 3 s old, as the issue saw under TCG while a guest
 * grew at full speed. make bench's fast scenario, kept by real guests at
 * every PERIOD, is lost in the simulator with 2 s or more. */
#define BUSY_KIB_S      (20 * MIB)
#define BUSY_LATE_MAX_S 1
/* To calibrate: how fast a guest with deflate-on-oom takes memory back from
 * its balloon when its kernel would otherwise kill (Linux releases 1 MiB
 * per OOM notifier call). */
#define DEFLATE_ON_OOM_KIB_S (256 * MIB)
/* design.md, "Balloons in motion": the test guest's balloon less MemTotal. */
#define KERNEL_OVERHEAD (68 * MIB)
/* To calibrate: QEMU's own resident memory beside the guest's pages. */
#define QEMU_OVERHEAD (112 * MIB)
/* To calibrate: the free memory below which the guest kernel's OOM killer
 * strikes (its watermarks, with no swap). */
#define OOM_MARGIN (32 * MIB)
/* The reader: page cache fills free memory down to about 70 MiB of
 * MemFree and is dropped on demand. */
#define CACHE_FLOOR (70 * MIB)
/* Linux's free page reporting hands freed pages back about 2 s after they
 * were freed (page_reporting's delay). */
#define FPR_DELAY_S 2
/* What a hostile guest that always reports little unused reports. */
#define LIAR_UNUSED (100 * MIB)
/* A hostile guest that claims fast growth adds this to its use at each of
 * its samples, for LIAR_RATE_STEPS samples, then starts over. */
#define LIAR_RATE_KIB   (400 * MIB)
#define LIAR_RATE_STEPS 5

#endif
