#include "mrt/core/npy.h"

#include <cstring>
#include <fstream>
#include <iterator>
#include <sstream>

namespace mrt {
namespace {

constexpr char kMagic[] = "\x93NUMPY";
constexpr size_t kMagicLen = 6;

struct DescrEntry { std::string_view descr; MRT_DType dtype; };
// One-byte types use '|'; numpy also accepts '<' for them on input.
constexpr DescrEntry kDescrs[] = {
    {"<f4", MRT_DTYPE_FLOAT32}, {"<f2", MRT_DTYPE_FLOAT16}, {"<f8", MRT_DTYPE_FLOAT64},
    {"<i8", MRT_DTYPE_INT64},   {"<i4", MRT_DTYPE_INT32},   {"<i2", MRT_DTYPE_INT16},
    {"|i1", MRT_DTYPE_INT8},    {"|u1", MRT_DTYPE_UINT8},   {"<u2", MRT_DTYPE_UINT16},
    {"<u4", MRT_DTYPE_UINT32},  {"<u8", MRT_DTYPE_UINT64},  {"|b1", MRT_DTYPE_BOOL},
};

// Value of `key` in the header dict, as raw text up to the next top-level comma.
Result<std::string> dict_value(std::string_view header, std::string_view key) {
  std::string quoted = "'" + std::string(key) + "'";
  size_t k = header.find(quoted);
  if (k == std::string_view::npos) return invalid_argument("npy header lacks '" + std::string(key) + "'");
  size_t colon = header.find(':', k + quoted.size());
  if (colon == std::string_view::npos) return invalid_argument("npy header malformed near '" + std::string(key) + "'");
  size_t i = colon + 1;
  while (i < header.size() && header[i] == ' ') ++i;
  size_t end = i;
  int depth = 0;
  for (; end < header.size(); ++end) {
    char c = header[end];
    if (c == '(') ++depth;
    if (c == ')') --depth;
    if ((c == ',' || c == '}') && depth == 0) break;
  }
  return std::string(header.substr(i, end - i));
}

Result<Dims> parse_shape(std::string_view text) {
  if (text.size() < 2 || text.front() != '(' || text.back() != ')') return invalid_argument("npy shape is not a tuple: " + std::string(text));
  Dims dims;
  std::string inner(text.substr(1, text.size() - 2));
  std::stringstream ss(inner);
  std::string item;
  while (std::getline(ss, item, ',')) {
    size_t b = item.find_first_not_of(' ');
    if (b == std::string::npos) continue;  // trailing comma of a 1-tuple
    size_t e = item.find_last_not_of(' ');
    std::string num = item.substr(b, e - b + 1);
    if (!num.empty() && num.back() == 'L') num.pop_back();  // Python 2 longs
    if (num.empty() || num.find_first_not_of("0123456789") != std::string::npos)
      return invalid_argument("npy shape has a bad dimension '" + num + "'");
    if (num.size() > 18) return invalid_argument("npy shape dimension too large: " + num);
    dims.push_back(std::stoll(num));
  }
  if (dims.size() > MRT_MAX_RANK) return invalid_argument("npy rank " + std::to_string(dims.size()) + " exceeds " + std::to_string(MRT_MAX_RANK));
  return dims;
}

}  // namespace

Result<Tensor> parse_npy(std::string_view bytes, std::string tensor_name) {
  if (bytes.size() < 10 || std::memcmp(bytes.data(), kMagic, kMagicLen) != 0) return invalid_argument("not a .npy file (bad magic)");
  uint8_t major = static_cast<uint8_t>(bytes[6]);
  size_t header_len = 0;
  size_t header_start = 0;
  if (major == 1) {
    header_len = static_cast<uint8_t>(bytes[8]) | (static_cast<uint8_t>(bytes[9]) << 8);
    header_start = 10;
  } else if (major == 2 || major == 3) {
    if (bytes.size() < 12) return invalid_argument("truncated .npy header");
    header_len = 0;
    for (int i = 0; i < 4; ++i) header_len |= static_cast<size_t>(static_cast<uint8_t>(bytes[8 + i])) << (8 * i);
    header_start = 12;
  } else {
    return invalid_argument("unsupported .npy format version " + std::to_string(major));
  }
  if (header_start + header_len > bytes.size()) return invalid_argument("truncated .npy header");
  std::string_view header = bytes.substr(header_start, header_len);

  auto descr = dict_value(header, "descr");
  if (!descr) return descr.status();
  auto fortran = dict_value(header, "fortran_order");
  if (!fortran) return fortran.status();
  auto shape = dict_value(header, "shape");
  if (!shape) return shape.status();
  if (*fortran != "False") return invalid_argument(".npy in Fortran order is not supported; save a C-contiguous array");
  std::string d = *descr;
  if (d.size() < 2 || (d.front() != '\'' && d.front() != '"')) return invalid_argument("npy descr malformed: " + d);
  d = d.substr(1, d.size() - 2);
  if (d.size() == 3 && d[0] == '<' && d[2] == '1') d[0] = '|';
  MRT_DType dtype = MRT_DTYPE_UNDEFINED;
  for (const auto& e : kDescrs) if (e.descr == d) dtype = e.dtype;
  if (dtype == MRT_DTYPE_UNDEFINED) return invalid_argument("unsupported .npy dtype '" + d + "' (big-endian, object and string arrays are not supported)");
  auto dims = parse_shape(*shape);
  if (!dims) return dims.status();

  auto t = Tensor::zeros(std::move(tensor_name), dtype, std::move(*dims));
  if (!t) return t.status();
  size_t data_start = header_start + header_len;
  if (bytes.size() - data_start != t->byte_size())
    return invalid_argument(".npy data is " + std::to_string(bytes.size() - data_start) + " bytes, shape " +
                            dims_to_string(t->dims()) + " of " + std::string(dtype_name(dtype)) + " needs " +
                            std::to_string(t->byte_size()));
  if (t->byte_size()) std::memcpy(t->data(), bytes.data() + data_start, t->byte_size());
  return t;
}

Result<Tensor> read_npy(const std::filesystem::path& path, std::string tensor_name) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return not_found("cannot open " + path.string());
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto t = parse_npy(bytes, std::move(tensor_name));
  if (!t) return t.status().with_context(path.string());
  return t;
}

std::string serialize_npy(const Tensor& tensor) {
  std::string descr;
  for (const auto& e : kDescrs) if (e.dtype == tensor.dtype()) descr = e.descr;
  if (descr.empty()) descr = "|V" + std::to_string(dtype_size(tensor.dtype()));  // bfloat16: raw bytes
  std::string shape = "(";
  for (size_t i = 0; i < tensor.dims().size(); ++i) shape += std::to_string(tensor.dims()[i]) + (tensor.dims().size() == 1 ? "," : (i + 1 < tensor.dims().size() ? ", " : ""));
  shape += ")";
  std::string header = "{'descr': '" + descr + "', 'fortran_order': False, 'shape': " + shape + ", }";
  bool v2 = header.size() + 11 > 65535;
  size_t prefix = v2 ? 12 : 10;
  size_t total = prefix + header.size() + 1;
  header.append((64 - total % 64) % 64, ' ');
  header += '\n';
  std::string out(kMagic, kMagicLen);
  out += static_cast<char>(v2 ? 2 : 1);
  out += '\0';
  size_t len = header.size();
  out += static_cast<char>(len & 0xff);
  out += static_cast<char>((len >> 8) & 0xff);
  if (v2) { out += static_cast<char>((len >> 16) & 0xff); out += static_cast<char>((len >> 24) & 0xff); }
  out += header;
  out.append(reinterpret_cast<const char*>(tensor.data()), tensor.byte_size());
  return out;
}

Status write_npy(const std::filesystem::path& path, const Tensor& tensor) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) return permission_denied("cannot write " + path.string());
  std::string bytes = serialize_npy(tensor);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) return internal_error("write failed: " + path.string());
  return Status::ok();
}

}  // namespace mrt
