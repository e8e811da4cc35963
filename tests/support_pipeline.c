/* support_pipeline.c - run a whole pipeline from a test, in forked processes */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>
#include <cmocka.h>

#include "stages/supervisor.h"
#include "tests/support.h"

pid_t tsup_start(const struct tp_config *cfg)
{
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct sup_opts o = { .config_path = "test.json", .mode = -1, .keep_segment = true, .quiet = true };
		_exit(supervisor_run(cfg, &o));
	}
	return pid;
}

void tsup_run(const struct tp_config *cfg)
{
	assert_int_equal(tsup_wait(tsup_start(cfg)), 0);
}
