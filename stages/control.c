/* control.c - trading state changes, flatten requests and the operator audit log */
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "stages/control.h"
#include "stages/stats.h"

static uint64_t unix_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

uint32_t control_set_state(struct control_block *c, enum trading_state st, const char *reason)
{
	snprintf(c->reason, sizeof(c->reason), "%s", reason ? reason : "");
	store_relaxed(&c->state_changed_unix_ns, unix_ns());
	/* acq_rel: the reason and time above are visible to whoever reads the
	 * new state with acquire (control_trading_state). */
	uint32_t old = atomic_exchange_explicit(&c->trading_state, (uint32_t)st, memory_order_acq_rel);
	atomic_fetch_add_explicit(&c->state_seq, 1, memory_order_release);
	return old;
}

uint64_t control_flatten(struct control_block *c, const char *reason)
{
	snprintf(c->reason, sizeof(c->reason), "%s", reason ? reason : "");
	/* Release: the reason is visible to a reader that sees the new sequence. */
	return atomic_fetch_add_explicit(&c->flatten_seq, 1, memory_order_release) + 1;
}

int control_audit(const char *path, const char *command, const char *reason, const char *result,
		  char *err, size_t errlen)
{
	char line[1024], when[40], user[64] = "?";
	struct timespec ts;
	struct tm tm;
	uid_t uid = getuid();
	struct passwd *pw = getpwuid(uid);
	if (pw)
		snprintf(user, sizeof(user), "%s", pw->pw_name);
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	size_t n = strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(when + n, sizeof(when) - n, ".%03ldZ", ts.tv_nsec / 1000000);

	/* One line, fields separated by tabs; tabs and newlines in the reason are blanked. */
	char clean[CONTROL_REASON_MAX * 2];
	snprintf(clean, sizeof(clean), "%s", reason && *reason ? reason : "-");
	for (char *p = clean; *p; p++)
		if (*p == '\t' || *p == '\n' || *p == '\r')
			*p = ' ';
	int len = snprintf(line, sizeof(line), "%s\tuid=%u\tuser=%s\tpid=%d\tcommand=%s\treason=%s\tresult=%s\n",
			   when, (unsigned)uid, user, (int)getpid(), command, clean, result);
	if (len < 0 || (size_t)len >= sizeof(line))
		len = (int)strlen(line);

	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (fd < 0) {
		int e = errno;
		snprintf(err, errlen, "audit log %s: cannot open: %s", path, strerror(e));
		return -e;
	}
	ssize_t w = write(fd, line, (size_t)len);
	int e = w == len ? 0 : (w < 0 ? errno : EIO);
	if (!e && fsync(fd) != 0)
		e = errno;
	close(fd);
	if (e) {
		snprintf(err, errlen, "audit log %s: cannot write: %s", path, strerror(e));
		return -e;
	}
	return 0;
}

const char *trading_state_name(uint32_t st)
{
	switch (st) {
	case TRADING_ACTIVE: return "ACTIVE";
	case TRADING_REDUCING: return "REDUCING";
	case TRADING_HALTED: return "HALTED";
	}
	return "?";
}

int trading_state_parse(const char *s)
{
	if (!strcasecmp(s, "active"))
		return TRADING_ACTIVE;
	if (!strcasecmp(s, "reducing"))
		return TRADING_REDUCING;
	if (!strcasecmp(s, "halted"))
		return TRADING_HALTED;
	return -EINVAL;
}

const char *stage_state_name(uint32_t st)
{
	switch (st) {
	case STAGE_INIT: return "init";
	case STAGE_RUNNING: return "running";
	case STAGE_DONE: return "done";
	case STAGE_DEAD: return "dead";
	case STAGE_FAILED: return "failed";
	}
	return "?";
}
