// The proc connector's wire format: pure functions from bytes to events and from requests to
// bytes. No I/O here, so every malformed input can be built by hand in a unit test or a fuzzer.
//
// This is the only component that knows the layout of <linux/cn_proc.h>; its implementation
// is the only file that includes it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "proctrail/event.hpp"
#include "proctrail/filter.hpp"
#include "proctrail/result.hpp"

namespace proctrail::cn_proc {

// Bytes in one proc connector datagram as the kernel sends it: nlmsghdr + cn_msg + proc_event.
inline constexpr size_t kMessageSize = 76;
// The largest cn_msg payload accepted. The kernel's proc_event is 40 bytes; the union may grow
// in later kernels, so some slack is allowed, but not without bound.
inline constexpr size_t kMaxPayload = 1024;

// One decoded message. seq and ack are the connector header's fields: seq is the sending CPU's
// running counter (gaps mean loss), ack echoes a subscribe request's ack value plus one.
struct Message {
  Event event;
  uint32_t seq = 0;
  uint32_t ack = 0;
};

// Decodes one datagram. Every length is checked against the bytes given; the result is an
// error (never a crash, never a read out of bounds) for truncated, oversized or inconsistent
// input and for messages that are not from the proc connector. Unknown event types decode to
// an UnknownData event. wall_ns is left 0: converting clocks is the caller's business.
Result<Message> decode(std::span<const std::byte> datagram);

// PROC_EVENT_* bits for a selection of events, for the kernel-side filter (Linux 6.6+).
uint32_t kernel_event_bits(const EventMask& mask);
// The bit value meaning "all events" in a proc_input request.
uint32_t kernel_all_events();

enum class McastOp : uint32_t { Listen = 1, Ignore = 2 };

// A (un)subscribe request datagram. Without event_bits it is the legacy 4-byte form every
// kernel understands; with event_bits it is the 8-byte struct proc_input of Linux 6.6+, which
// older kernels ignore without an answer.
std::vector<std::byte> encode_request(McastOp op, std::optional<uint32_t> event_bits,
                                      uint32_t ack_nonce, uint32_t port_id);

// One classic BPF instruction, laid out as struct sock_filter.
struct FilterInsn {
  uint16_t code;
  uint8_t jt;
  uint8_t jf;
  uint32_t k;
};

// Which messages a socket keeps, decided in the kernel by a socket filter (SO_ATTACH_FILTER,
// any kernel, no privilege). Acks always pass: they answer subscriptions.
enum class Route {
  All,          // every event
  ExecOnCpus,   // exec events sent from one of `cpus`
  ExecOffCpus,  // exec events sent from any other CPU
  AllButExec,   // every event except exec
};
// `types`: PROC_EVENT_* bits (kernel_event_bits) of the event types to keep at all; nullopt
// keeps every type. Unlike the Linux 6.6 kernel-side filter this works on every kernel, so a
// source delivers only what it was asked for whatever the kernel made of its request.
std::vector<FilterInsn> socket_filter(Route route, std::span<const int> cpus,
                                      std::optional<uint32_t> types = std::nullopt);

// Builds the datagram the kernel would send for an event (used by tests, fuzz seeds and the
// decode benchmark). Only the fields of Event and its payload that the kernel sends are used.
std::vector<std::byte> encode_event(const Event& event, uint32_t seq, uint32_t ack = 0);

}  // namespace proctrail::cn_proc
