#include "server/reply/reply_plan.h"

#include <algorithm>

namespace fake_tcp {
namespace {

ReplyStep Wait(absl::Duration wait) {
  ReplyStep step;
  step.kind = ReplyStep::Kind::kWait;
  step.wait = wait;
  return step;
}

}  // namespace

std::vector<ReplyStep> PlanReply(const Reply& reply, size_t size,
                                 const ReplyShaping& shaping) {
  std::vector<ReplyStep> steps;
  PlanReply(reply, size, shaping, &steps);
  return steps;
}

void PlanReply(const Reply& reply, size_t size, const ReplyShaping& shaping,
               std::vector<ReplyStep>* out) {
  std::vector<ReplyStep>& steps = *out;
  steps.clear();
  const absl::Duration delay = reply.delay + shaping.reply_latency;
  if (delay > absl::ZeroDuration()) steps.push_back(Wait(delay));

  const size_t total = std::min(reply.send_only, size);
  size_t piece = total;
  absl::Duration pause = absl::ZeroDuration();
  const int64_t rate = reply.bytes_per_second > 0 ? reply.bytes_per_second
                                                  : shaping.bytes_per_second;
  if (reply.slice_bytes > 0) {
    piece = reply.slice_bytes;
    pause = reply.slice_pause;
  } else if (rate > 0) {
    piece =
        static_cast<size_t>(std::max<int64_t>(1, rate / kRatePiecesPerSecond));
    pause = absl::Seconds(1) * (static_cast<double>(piece) / rate);
  }
  for (size_t offset = 0; offset < total; offset += piece) {
    if (offset > 0 && pause > absl::ZeroDuration()) {
      steps.push_back(Wait(pause));
    }
    ReplyStep write;
    write.kind = ReplyStep::Kind::kWrite;
    write.begin = offset;
    write.size = std::min(piece, total - offset);
    steps.push_back(write);
  }

  if (reply.then != Reply::Then::kNothing) {
    if (reply.then_delay > absl::ZeroDuration()) {
      steps.push_back(Wait(reply.then_delay));
    }
    ReplyStep then;
    then.kind = ReplyStep::Kind::kThen;
    then.then = reply.then;
    steps.push_back(then);
  }
}

}  // namespace fake_tcp
