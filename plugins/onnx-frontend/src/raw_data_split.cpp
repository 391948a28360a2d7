// The wire-format walk behind split_initializer_raw_data (see the header).
// Every field but the three on the path ModelProto.graph →
// GraphProto.initializer → TensorProto.raw_data is copied byte for byte, so
// protobuf parses the rest exactly as it would have parsed the whole.
#include "raw_data_split.h"

#include <onnx/onnx_pb.h>

#include <algorithm>
#include <cstdint>
#include <cstring>

namespace mrt::onnx {

namespace {

constexpr uint32_t kLengthDelimited = 2;

// Sequential reads of a ByteSource through a small window: the walk reads
// tags and lengths a byte at a time and copies the fields it keeps, and
// skips the raw_data payloads without reading them. The window is small
// so that the bytes read past a field, into a payload skipped next, stay
// few (one window per initializer at most).
class Window {
 public:
  explicit Window(ByteSource& src) : src_(src), buf_(kBytes) {}

  uint64_t size() const { return src_.size(); }

  uint8_t byte(uint64_t pos) {
    if (pos < start_ || pos >= start_ + len_) fill(pos);
    return static_cast<uint8_t>(buf_[pos - start_]);
  }

  // Appends bytes [begin, end) to `out`.
  void append(uint64_t begin, uint64_t end, std::string& out) {
    size_t n = static_cast<size_t>(end - begin), at = out.size();
    out.resize(at + n);
    if (begin >= start_ && end <= start_ + len_) {
      std::memcpy(out.data() + at, buf_.data() + (begin - start_), n);
    } else {
      src_.read(begin, out.data() + at, n);
    }
  }

 private:
  static constexpr size_t kBytes = size_t{64} << 10;
  void fill(uint64_t pos) {
    len_ = static_cast<size_t>(std::min<uint64_t>(kBytes, src_.size() - pos));
    start_ = pos;
    src_.read(pos, buf_.data(), len_);
  }
  ByteSource& src_;
  std::vector<char> buf_;
  uint64_t start_ = 0;
  size_t len_ = 0;
};

// A varint of at most `max_bytes` bytes (tags and lengths: 5, as protobuf
// reads them; values: 10) at `p` (advanced past it), below `end`.
bool read_varint(Window& in, uint64_t& p, uint64_t end, uint64_t& v, int max_bytes = 10) {
  v = 0;
  for (int shift = 0; shift < 7 * max_bytes; shift += 7) {
    if (p == end) return false;
    uint8_t b = in.byte(p++);
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

// One field of a message: its number and wire type, where the whole field
// lies and where its payload does (a length-delimited field's bytes).
struct Field {
  uint32_t number = 0, wire = 0;
  uint64_t begin = 0, end = 0;                  // the whole field
  uint64_t payload_begin = 0, payload_end = 0;  // length-delimited only
};

// Calls on(field) for each field of the message in [begin, end); false on
// malformed input, on a group, or when `on` says so.
template <typename F>
bool for_each_field(Window& in, uint64_t begin, uint64_t end, F&& on) {
  uint64_t p = begin;
  while (p < end) {
    Field f;
    f.begin = p;
    uint64_t tag = 0;
    // Protobuf reads a tag as 32 bits and drops what lies beyond: a longer
    // or wider one could name another field to it than to this walk.
    if (!read_varint(in, p, end, tag, 5) || tag > UINT32_MAX || (tag >> 3) == 0) return false;
    f.number = static_cast<uint32_t>(tag >> 3);
    f.wire = static_cast<uint32_t>(tag & 7);
    switch (f.wire) {
      case 0: {
        uint64_t ignored = 0;
        if (!read_varint(in, p, end, ignored)) return false;
        break;
      }
      case 1:
      case 5: {
        uint64_t n = f.wire == 1 ? 8 : 4;
        if (end - p < n) return false;
        p += n;
        break;
      }
      case kLengthDelimited: {
        uint64_t n = 0;
        // Protobuf refuses lengths past 5 bytes or INT_MAX; so does the walk.
        if (!read_varint(in, p, end, n, 5) || n > static_cast<uint64_t>(INT32_MAX) || n > end - p) return false;
        f.payload_begin = p;
        f.payload_end = p + n;
        p += n;
        break;
      }
      default:
        return false;  // groups (deprecated) and invalid wire types
    }
    f.end = p;
    if (!on(f)) return false;
  }
  return true;
}

}  // namespace

std::optional<SplitModel> split_initializer_raw_data(ByteSource& bytes) {
  if (bytes.size() > static_cast<uint64_t>(INT32_MAX))
    return std::nullopt;  // protobuf's 2 GiB limit: its parse refuses the file
  Window in(bytes);
  SplitModel out;
  int graphs = 0;
  auto tensor = [&](const Field& t, std::string& rest) {
    SplitModel::Range raw;
    bool has = false;
    if (!for_each_field(in, t.payload_begin, t.payload_end, [&](const Field& f) {
          if (f.number != ::onnx::TensorProto::kRawDataFieldNumber || f.wire != kLengthDelimited) {
            in.append(f.begin, f.end, rest);
            return true;
          }
          if (has) return false;  // protobuf would keep the last; rare enough to leave to it
          has = true;
          raw = {f.payload_begin, static_cast<size_t>(f.payload_end - f.payload_begin)};
          return true;
        }))
      return false;
    out.raw_data.push_back(raw);
    out.has_raw_data.push_back(has);
    return true;
  };
  auto graph = [&](const Field& g, std::string& rest) {
    return for_each_field(in, g.payload_begin, g.payload_end, [&](const Field& f) {
      if (f.number != ::onnx::GraphProto::kInitializerFieldNumber || f.wire != kLengthDelimited) {
        in.append(f.begin, f.end, rest);
        return true;
      }
      std::string stripped;
      if (!tensor(f, stripped)) return false;
      put_message_field(rest, f.number, stripped);
      return true;
    });
  };
  bool ok = for_each_field(in, 0, bytes.size(), [&](const Field& f) {
    if (f.number != ::onnx::ModelProto::kGraphFieldNumber || f.wire != kLengthDelimited) {
      in.append(f.begin, f.end, out.rest);
      return true;
    }
    if (++graphs > 1) return false;  // protobuf merges repeated message fields
    std::string stripped;
    if (!graph(f, stripped)) return false;
    put_message_field(out.rest, f.number, stripped);
    return true;
  });
  if (!ok) return std::nullopt;
  return out;
}

}  // namespace mrt::onnx
