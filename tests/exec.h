/* exec.h - the order pipeline for execution tests: an order source stage and journal checks
 *
 *   texec_tordgen   "md" -> "order": every TEXEC_EVERY-th two-sided quote becomes
 *                   an order, a pure function of the input (support_exec.c says how)
 *   TEXEC_SPLIT3    replay, decode, tordgen | execution | reconciliation in three processes
 */
#ifndef TP_TEST_EXEC_H
#define TP_TEST_EXEC_H

#include <stdint.h>

#include "rings/msg.h"
#include "stages/stage.h"

#define TEXEC_EVERY 5
#define TEXEC_MAXSYM 65

extern const struct stage_def texec_tordgen;

#define TEXEC_SPLIT3 \
	"{'name':'front','cpu':0,'wait':'yield','stages':['replay','decode','tordgen']}," \
	"{'name':'exec','cpu':1,'wait':'yield','stages':['execution']}," \
	"{'name':'recon','cpu':1,'wait':'yield','stages':['reconciliation']}"

/* What a journal says, checked record by record. */
struct texec_jsum {
	uint64_t records, orders, reports, finals, positions, compares, compare_mismatches, adopts, starts;
	uint64_t dup_rejects, fills;
	qty_t qty[TEXEC_MAXSYM];         /* last POSITION/ADOPT per symbol */
	qty_t fill_sum[TEXEC_MAXSYM];    /* signed sum of fills per symbol */
	int torn;
};

/* Reads a journal and checks its invariants: orders unique within a run, exactly
 * one final report per order, reports only for journaled orders, known records. */
void texec_read_journal(const char *path, struct texec_jsum *j);

struct seg;
struct pos_table;

/* The position table of an attached segment. */
const struct pos_table *texec_positions_of(const struct seg *s);
/* Each symbol's position in the table = the journal's last position = the sum of its journaled fills. */
void texec_check_positions(const struct seg *s, const struct texec_jsum *j);

#endif
