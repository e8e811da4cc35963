/* cli.h - the subcommands of build/tickpipe */
#ifndef TP_CLI_H
#define TP_CLI_H

/* Exit statuses shared by every subcommand. */
#define EXIT_OK      0
#define EXIT_FAIL    1   /* a run-time failure */
#define EXIT_USAGE   2   /* bad arguments or a bad config; nothing was created */

int cmd_run(int argc, char **argv);
int cmd_config(int argc, char **argv);
int cmd_seg(int argc, char **argv);
int cmd_journal(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_ctl(int argc, char **argv);
int cmd_import(int argc, char **argv);
int cmd_model(int argc, char **argv);
int cmd_gen(int argc, char **argv);
int cmd_decode(int argc, char **argv);
int cmd_broker_sim(int argc, char **argv);
int cmd_doctor(int argc, char **argv);
int cmd_monitor(int argc, char **argv);
int cmd_top(int argc, char **argv);
int cmd_latency(int argc, char **argv);
int cmd_mold_send(int argc, char **argv);
int cmd_capture(int argc, char **argv);

/* True if argv[1..] holds -h or --help. */
int cli_wants_help(int argc, char **argv);

#endif
