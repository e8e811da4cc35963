/* decode.h - the decode stage: raw records in, md events out; books, symbols, market table */
#ifndef TP_DECODE_STAGE_H
#define TP_DECODE_STAGE_H

#include "stages/stage.h"

extern const struct stage_def decode_stage;

#endif
