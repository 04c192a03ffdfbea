#ifndef SERVER_SCRIPT_H_
#define SERVER_SCRIPT_H_

// Scripted replies and faults, in one schema (server/script/script.proto) for
// C++, the standalone server's --script file and the out-of-process fixture:
//  - scripted_responder.h: ScriptedResponder answers messages as a Script says
//    (rules, sequences, faults, fallback) and reports rule use and misses;
//  - script_loader.h: ValidateScript, ParseScript, LoadScript (text format or
//    JSON), ScriptToText;
//  - script_builders.h: script::When(script::Prefix("SET "), ...) for C++
//    tests.
#include "server/record/script_recorder.h"
#include "server/script/script.pb.h"
#include "server/script/script_builders.h"
#include "server/script/script_loader.h"
#include "server/script/scripted_responder.h"

#endif  // SERVER_SCRIPT_H_
