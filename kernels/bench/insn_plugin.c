/* QEMU TCG plugin: counts executed guest instructions and prints the total at exit.
 *
 * No Debian package ships qemu-plugin.h, so the few declarations needed are written here
 * from the documented plugin API (QEMU 7.2+, plugin API version 1 and later).
 * Counting: at translation (vcpu_tb_trans) each translation block gets an exec callback
 * carrying its instruction count; the callback adds it to a global counter.
 * Usage: qemu-aarch64 -plugin ./insn_plugin.so,out=/path/count.txt ./program
 * (without out=, the total goes to stderr as "insns: N").
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define QEMU_PLUGIN_EXPORT __attribute__((visibility("default")))

typedef uint64_t qemu_plugin_id_t;
typedef struct qemu_info_t qemu_info_t; /* opaque: only passed through */
struct qemu_plugin_tb;

enum qemu_plugin_cb_flags { QEMU_PLUGIN_CB_NO_REGS = 0 };

typedef void (*qemu_plugin_vcpu_tb_trans_cb_t)(qemu_plugin_id_t id, struct qemu_plugin_tb* tb);
typedef void (*qemu_plugin_vcpu_udata_cb_t)(unsigned int vcpu_index, void* userdata);
typedef void (*qemu_plugin_udata_cb_t)(qemu_plugin_id_t id, void* userdata);

void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t id, qemu_plugin_vcpu_tb_trans_cb_t cb);
void qemu_plugin_register_vcpu_tb_exec_cb(struct qemu_plugin_tb* tb, qemu_plugin_vcpu_udata_cb_t cb,
                                          enum qemu_plugin_cb_flags flags, void* userdata);
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb* tb);
void qemu_plugin_register_atexit_cb(qemu_plugin_id_t id, qemu_plugin_udata_cb_t cb, void* userdata);

QEMU_PLUGIN_EXPORT int qemu_plugin_version = 1;

static uint64_t g_insns;
static char g_out[4096];

static void tb_exec(unsigned int vcpu_index, void* userdata) {
  (void)vcpu_index;
  __atomic_fetch_add(&g_insns, (uint64_t)(uintptr_t)userdata, __ATOMIC_RELAXED);
}

static void tb_trans(qemu_plugin_id_t id, struct qemu_plugin_tb* tb) {
  (void)id;
  const size_t n = qemu_plugin_tb_n_insns(tb);
  qemu_plugin_register_vcpu_tb_exec_cb(tb, tb_exec, QEMU_PLUGIN_CB_NO_REGS, (void*)(uintptr_t)n);
}

static void at_exit(qemu_plugin_id_t id, void* userdata) {
  (void)id;
  (void)userdata;
  const unsigned long long n = (unsigned long long)__atomic_load_n(&g_insns, __ATOMIC_RELAXED);
  if (g_out[0]) {
    FILE* f = fopen(g_out, "w");
    if (f) {
      fprintf(f, "%llu\n", n);
      fclose(f);
      return;
    }
  }
  fprintf(stderr, "insns: %llu\n", n);
}

QEMU_PLUGIN_EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t* info, int argc,
                                           char** argv) {
  (void)info;
  for (int i = 0; i < argc; i++) {
    if (strncmp(argv[i], "out=", 4) == 0) {
      strncpy(g_out, argv[i] + 4, sizeof g_out - 1);
    } else {
      fprintf(stderr, "insn_plugin: unknown argument '%s' (expected out=PATH)\n", argv[i]);
      return -1;
    }
  }
  qemu_plugin_register_vcpu_tb_trans_cb(id, tb_trans);
  qemu_plugin_register_atexit_cb(id, at_exit, NULL);
  return 0;
}
