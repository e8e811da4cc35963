/* cmd_seg.c - `tickpipe seg`: list, inspect and remove shared-memory segments */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "rings/seg.h"
#include "tools/cli.h"

static void seg_usage(FILE *f)
{
	fprintf(f, "usage: tickpipe seg ls\n"
		   "       tickpipe seg info NAME\n"
		   "       tickpipe seg rm NAME [--force]\n\n"
		   "  ls     every tickpipe segment in /dev/shm and hugetlbfs mounts, with its state\n"
		   "         (live, stopped = kept after a clean stop, stale = its pipeline died)\n"
		   "  info   header and region directory of a segment (read-only)\n"
		   "  rm     remove a stopped or stale segment; a live one only with --force\n");
}

static const char *kind_name(uint32_t k)
{
	static const char *const names[] = { "?", "control", "ring", "bring", "ring-data",
					     "table", "stats", "state", "bell", "other" };
	return k < sizeof(names) / sizeof(names[0]) ? names[k] : "?";
}

static int seg_ls(void)
{
	const char *dirs[] = { "/dev/shm", "/dev/hugepages" };
	int found = 0;
	for (size_t d = 0; d < sizeof(dirs) / sizeof(dirs[0]); d++) {
		DIR *dir = opendir(dirs[d]);
		struct dirent *e;
		if (!dir)
			continue;
		while ((e = readdir(dir))) {
			if (strncmp(e->d_name, "tickpipe-", 9) || !seg_name_valid(e->d_name + 9))
				continue;
			char path[300];
			int32_t pid = 0;
			uint64_t created = 0;
			enum seg_probe_state st = seg_probe(e->d_name + 9, dirs[d], path, sizeof(path), &pid, &created);
			printf("%-24s %-8s pid %-8d %s\n", e->d_name + 9, seg_probe_state_name(st), pid, path);
			found++;
		}
		closedir(dir);
	}
	if (!found)
		printf("no tickpipe segments\n");
	return EXIT_OK;
}

static int seg_info(const char *name)
{
	struct seg s;
	struct seg_expect ex = { .allow_stale = true };
	char err[SEG_ERRLEN];
	if (seg_attach(&s, name, &ex, true, err, sizeof(err))) {
		fprintf(stderr, "tickpipe seg: %s\n", err);
		return EXIT_FAIL;
	}
	const struct seg_header *h = s.hdr;
	char when[40];
	time_t t = (time_t)(h->created_unix_ns / 1000000000ULL);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", gmtime(&t));
	printf("segment      %s (%s)\n", h->name, s.path);
	printf("state        %s\n", seg_probe_state_name(seg_probe(name, NULL, NULL, 0, NULL, NULL)));
	printf("size         %" PRIu64 " bytes, %" PRIu64 " used, pages of %u bytes%s\n", h->size, h->used,
	       h->hugepage_bytes, s.huge ? " (hugetlbfs)" : "");
	printf("abi          %u\nlayout hash  0x%016" PRIx64 "\npipeline id  %" PRIu64 "\n",
	       h->abi_version, h->layout_hash, h->pipeline_id);
	printf("owner        pid %d, created %s\n", h->owner_pid, when);
	printf("regions      %u\n", h->dir_count);
	for (uint32_t i = 0; i < h->dir_count && i < SEG_DIR_MAX; i++)
		printf("  %-40s %-9s off %-10" PRIu64 " bytes %" PRIu64 "\n", h->dir[i].name,
		       kind_name(h->dir[i].kind), h->dir[i].off, h->dir[i].bytes);
	seg_detach(&s);
	return EXIT_OK;
}

static int seg_rm(const char *name, int force)
{
	char path[300];
	enum seg_probe_state st = seg_probe(name, NULL, path, sizeof(path), NULL, NULL);
	if (st == SEG_PROBE_NONE) {
		fprintf(stderr, "tickpipe seg: no segment named \"%s\"\n", name);
		return EXIT_FAIL;
	}
	if (st == SEG_PROBE_LIVE && !force) {
		fprintf(stderr, "tickpipe seg: %s belongs to a running pipeline; stop it first (or --force)\n", path);
		return EXIT_FAIL;
	}
	int rc = seg_destroy(name, NULL);
	if (rc) {
		fprintf(stderr, "tickpipe seg: cannot remove %s: %s\n", path, strerror(-rc));
		return EXIT_FAIL;
	}
	printf("removed %s (%s)\n", path, seg_probe_state_name(st));
	return EXIT_OK;
}

int cmd_seg(int argc, char **argv)
{
	if (cli_wants_help(argc, argv)) {
		seg_usage(stdout);
		return EXIT_OK;
	}
	if (argc == 2 && !strcmp(argv[1], "ls"))
		return seg_ls();
	if (argc == 3 && !strcmp(argv[1], "info"))
		return seg_info(argv[2]);
	if ((argc == 3 || (argc == 4 && !strcmp(argv[3], "--force"))) && !strcmp(argv[1], "rm"))
		return seg_rm(argv[2], argc == 4);
	seg_usage(stderr);
	return EXIT_USAGE;
}
