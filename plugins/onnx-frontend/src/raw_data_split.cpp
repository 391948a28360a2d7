// The wire-format walk behind split_initializer_raw_data (see the header).
// Every field but the three on the path ModelProto.graph →
// GraphProto.initializer → TensorProto.raw_data is copied byte for byte, so
// protobuf parses the rest exactly as it would have parsed the whole.
#include "raw_data_split.h"

#include <onnx/onnx_pb.h>

#include <cstdint>

namespace mrt::onnx {
namespace {

constexpr uint32_t kLengthDelimited = 2;

// A varint of at most `max_bytes` bytes (tags and lengths: 5, as protobuf
// reads them; values: 10).
bool read_varint(const uint8_t*& p, const uint8_t* end, uint64_t& v, int max_bytes = 10) {
  v = 0;
  for (int shift = 0; shift < 7 * max_bytes; shift += 7) {
    if (p == end) return false;
    uint8_t b = *p++;
    v |= static_cast<uint64_t>(b & 0x7f) << shift;
    if (!(b & 0x80)) return true;
  }
  return false;
}

void put_varint(std::string& out, uint64_t v) {
  for (; v >= 0x80; v >>= 7) out.push_back(static_cast<char>(v | 0x80));
  out.push_back(static_cast<char>(v));
}

void put_message_field(std::string& out, uint32_t field, const std::string& payload) {
  put_varint(out, (static_cast<uint64_t>(field) << 3) | kLengthDelimited);
  put_varint(out, payload.size());
  out += payload;
}

// Calls on(field, wire_type, whole_field_bytes, payload) for each field of
// the message in `msg` (payload: the bytes of a length-delimited field);
// false on malformed input, on a group, or when `on` says so.
template <typename F>
bool for_each_field(std::string_view msg, F&& on) {
  const auto* p = reinterpret_cast<const uint8_t*>(msg.data());
  const uint8_t* end = p + msg.size();
  while (p < end) {
    const uint8_t* start = p;
    uint64_t tag = 0;
    // Protobuf reads a tag as 32 bits and drops what lies beyond: a longer
    // or wider one could name another field to it than to this walk.
    if (!read_varint(p, end, tag, 5) || tag > UINT32_MAX || (tag >> 3) == 0) return false;
    auto wire = static_cast<uint32_t>(tag & 7);
    std::string_view payload;
    switch (wire) {
      case 0: {
        uint64_t ignored = 0;
        if (!read_varint(p, end, ignored)) return false;
        break;
      }
      case 1:
      case 5: {
        size_t n = wire == 1 ? 8 : 4;
        if (static_cast<size_t>(end - p) < n) return false;
        p += n;
        break;
      }
      case kLengthDelimited: {
        uint64_t n = 0;
        // Protobuf refuses lengths past 5 bytes or INT_MAX; so does the walk.
        if (!read_varint(p, end, n, 5) || n > static_cast<uint64_t>(INT32_MAX) || n > static_cast<uint64_t>(end - p))
          return false;
        payload = std::string_view(reinterpret_cast<const char*>(p), n);
        p += n;
        break;
      }
      default:
        return false;  // groups (deprecated) and invalid wire types
    }
    std::string_view whole(reinterpret_cast<const char*>(start), static_cast<size_t>(p - start));
    if (!on(static_cast<uint32_t>(tag >> 3), wire, whole, payload)) return false;
  }
  return true;
}

}  // namespace

std::optional<SplitModel> split_initializer_raw_data(const void* bytes, size_t size) {
  if (size > static_cast<size_t>(INT32_MAX)) return std::nullopt;  // protobuf's 2 GiB limit: its parse refuses the file
  SplitModel out;
  int graphs = 0;
  auto tensor = [&](std::string_view t, std::string& rest) {
    std::string_view raw;
    bool has = false;
    if (!for_each_field(t, [&](uint32_t f, uint32_t wire, std::string_view whole, std::string_view payload) {
          if (f != ::onnx::TensorProto::kRawDataFieldNumber || wire != kLengthDelimited) {
            rest += whole;
            return true;
          }
          if (has) return false;  // protobuf would keep the last; rare enough to leave to it
          has = true;
          raw = payload;
          return true;
        }))
      return false;
    out.raw_data.push_back(raw);
    out.has_raw_data.push_back(has);
    return true;
  };
  auto graph = [&](std::string_view g, std::string& rest) {
    return for_each_field(g, [&](uint32_t f, uint32_t wire, std::string_view whole, std::string_view payload) {
      if (f != ::onnx::GraphProto::kInitializerFieldNumber || wire != kLengthDelimited) {
        rest += whole;
        return true;
      }
      std::string stripped;
      if (!tensor(payload, stripped)) return false;
      put_message_field(rest, f, stripped);
      return true;
    });
  };
  bool ok = for_each_field(std::string_view(static_cast<const char*>(bytes), size),
                           [&](uint32_t f, uint32_t wire, std::string_view whole, std::string_view payload) {
                             if (f != ::onnx::ModelProto::kGraphFieldNumber || wire != kLengthDelimited) {
                               out.rest += whole;
                               return true;
                             }
                             if (++graphs > 1) return false;  // protobuf merges repeated message fields
                             std::string stripped;
                             if (!graph(payload, stripped)) return false;
                             put_message_field(out.rest, f, stripped);
                             return true;
                           });
  if (!ok) return std::nullopt;
  return out;
}

}  // namespace mrt::onnx
