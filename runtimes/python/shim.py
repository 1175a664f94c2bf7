# faasd Python shim: runs one function in this process and speaks docs/protocol.md to the
# daemon over the Unix socket in FAAS_SOCKET. Standard library only.
#
# Start-up cost matters (it is every cold start). Measured on Debian's 3.11: `socket` costs
# ~4 ms (it pulls in enum), `json` ~10 ms (re, enum, functools, collections) and the
# interpreter itself ~15 ms with -I -S. So only built-in modules are imported: `_socket`, and
# JSON goes through the `_json` C accelerator directly (json's own fast path), with the
# json package as fallback should that private interface ever change.
#
# Run as a script (`python3 -I -S shim.py`) or, to skip compiling this file on every start
# (5-10 ms), as bytecode compiled once beforehand: `python3 -I -S shim.pyc` (py_compile),
# or `-c "import sys; sys.path.insert(0, DIR); import shim; shim.main()"`.
# Exit status: 0 daemon closed the connection, 1 cannot connect, 3 protocol error,
# 4 function failed to load.
import os
import sys
import _socket
from time import perf_counter

MAX_HEADER = 1024 * 1024
MAX_BODY = 64 * 1024 * 1024
LOG_MAX_LINES = 1000
LOG_MAX_LINE = 4096
# Keeps a result header well under MAX_HEADER even for 1000 long lines (docs/protocol.md).
LOG_MAX_CHARS = 256 * 1024
ERROR_TEXT_MAX = 64 * 1024

# As frames name it: this file's path when compiled, also when run from a .pyc.
SHIM_FILE = (lambda: None).__code__.co_filename
_hidden_prefixes = ['<frozen importlib']


def _exit(code):
    for stream in (sys.__stdout__, sys.__stderr__):
        try:
            stream.flush()
        except Exception:
            pass
    # os._exit: a handler's non-daemon threads must not keep the instance alive.
    os._exit(code)


class ProtocolError(Exception):
    pass


# ---------------------------------------------------------------- framing

class Connection:
    __slots__ = ('sock', 'buf')

    def __init__(self, path):
        sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
        sock.connect(path)
        self.sock = sock
        self.buf = bytearray()

    def _read(self, n):
        buf = self.buf
        have = len(buf)
        if have >= n:
            out = bytes(buf[:n])
            del buf[:n]
            return out
        if n - have > 65536:
            # Large body: receive straight into its final buffer.
            out = bytearray(n)
            out[:have] = buf
            buf.clear()
            view = memoryview(out)
            pos = have
            recv_into = self.sock.recv_into
            while pos < n:
                got = recv_into(view[pos:], n - pos)
                if not got:
                    raise EOFError
                pos += got
            return bytes(out)
        recv = self.sock.recv
        while len(buf) < n:
            chunk = recv(65536)
            if not chunk:
                raise EOFError
            buf += chunk
        out = bytes(buf[:n])
        del buf[:n]
        return out

    def read_frame(self):
        prefix = self._read(8)
        header_len = int.from_bytes(prefix[:4], 'big')
        body_len = int.from_bytes(prefix[4:], 'big')
        if header_len > MAX_HEADER or body_len > MAX_BODY:
            raise ProtocolError('frame of %d+%d bytes is over the limit' % (header_len, body_len))
        raw = self._read(header_len)
        body = self._read(body_len) if body_len else b''
        return _parse_header(raw), body

    def send_raw(self, header_bytes, body=b''):
        prefix = len(header_bytes).to_bytes(4, 'big') + len(body).to_bytes(4, 'big')
        if len(body) <= 65536:
            self.sock.sendall(prefix + header_bytes + body)
        else:
            self.sock.sendall(prefix + header_bytes)
            self.sock.sendall(body)

    def send(self, header, body=b''):
        self.send_raw(_encode(header), body)

    def take_cancel(self, rid):
        """Whether a whole `cancel` frame for call `rid` is buffered already (removed if so):
        the daemon asked back a call it sent ahead (docs/protocol.md, pipelining) before this
        shim started it. Only small body-less frames that mention "cancel" are parsed."""
        buf = self.buf
        n = len(buf)
        pos = 0
        while n - pos >= 8:
            header_len = int.from_bytes(buf[pos:pos + 4], 'big')
            body_len = int.from_bytes(buf[pos + 4:pos + 8], 'big')
            end = pos + 8 + header_len + body_len
            if end > n:
                return False
            if body_len == 0 and header_len < 512:
                raw = bytes(buf[pos + 8:end])
                if b'"cancel"' in raw:
                    header = _parse_header(raw)
                    if header['type'] == 'cancel' and header.get('id') == rid:
                        del buf[pos:end]
                        return True
            pos = end
        return False


def _parse_header(raw):
    try:
        header = json_loads(raw)
    except (ValueError, RecursionError):
        raise ProtocolError('frame header is not valid JSON')
    if type(header) is not dict or type(header.get('type')) is not str:
        raise ProtocolError('frame header is not an object with a string type')
    return header


def _take_frame(buf):
    """The first whole frame in `buf` (a bytearray), removed from it; None while incomplete."""
    if len(buf) < 8:
        return None
    header_len = int.from_bytes(buf[:4], 'big')
    body_len = int.from_bytes(buf[4:8], 'big')
    if header_len > MAX_HEADER or body_len > MAX_BODY:
        raise ProtocolError('frame of %d+%d bytes is over the limit' % (header_len, body_len))
    end = 8 + header_len + body_len
    if len(buf) < end:
        return None
    raw = bytes(buf[8:8 + header_len])
    body = bytes(buf[8 + header_len:end])
    del buf[:end]
    return _parse_header(raw), body


def _encode(header):
    # ASCII escapes: a lone surrogate in a log line (surrogateescape'd bytes) stays valid JSON.
    return json_dumps(header, True).encode('ascii')


# ---------------------------------------------------------------- JSON

def _decode_error(msg, doc, pos):
    from json.decoder import JSONDecodeError
    return JSONDecodeError(msg, doc, pos)


def _json_type_error(o):
    raise TypeError('Object of type %s is not JSON serializable' % type(o).__name__)


def _no_constant(token):
    # NaN, Infinity and -Infinity are not JSON: refused as the daemon and the Node shim do.
    raise ValueError('%s is not JSON' % token)


def _fast_json():
    """loads/dumps on the `_json` accelerator, as json.loads and json.dumps(separators=(',',
    ':'), allow_nan=False) use it; None when that interface is not the expected one."""
    try:
        import _json

        class Context:
            strict = True
            object_hook = None
            object_pairs_hook = None
            parse_float = float
            parse_int = int
            parse_constant = staticmethod(_no_constant)
            memo = {}

        scan = _json.make_scanner(Context())
        make_encoder = _json.make_encoder
        encoders = (_json.encode_basestring, _json.encode_basestring_ascii)

        def loads(doc):
            if not isinstance(doc, str):
                doc = str(doc, 'utf-8')
            doc = doc.strip(' \t\n\r')
            try:
                value, end = scan(doc, 0)
            except StopIteration as e:
                raise _decode_error('Expecting value', doc, e.value) from None
            if end != len(doc):
                raise _decode_error('Extra data', doc, end)
            return value

        def dumps(value, ascii=False):
            # A fresh markers dict per call: an encoder that failed half-way leaves entries.
            encode = make_encoder({}, _json_type_error, encoders[ascii], None, ':', ',', False, False, False)
            return ''.join(encode(value, 0))

        probe = {'a': [1, 2.5, 'x\u00e9', None, True], 'b': {}}
        if loads(' ' + dumps(probe) + '\n') != probe or dumps('\u00e9', True) != '"\\u00e9"':
            return None
        return loads, dumps
    except Exception:
        return None


def _load_json():
    global json_loads, json_dumps
    fast = _fast_json()
    if fast is not None:
        json_loads, json_dumps = fast
        return
    import json

    def dumps(value, ascii=False):
        return json.dumps(value, ensure_ascii=ascii, separators=(',', ':'), allow_nan=False)

    def loads(doc):
        return json.loads(doc, parse_constant=_no_constant)

    json_loads, json_dumps = loads, dumps


json_loads = json_dumps = None  # set by _load_json() once `ready` is sent
# concurrency > 1: a ContextVar holding the Logs of the call a task runs (each task has its own).
_call_logs = None


# ---------------------------------------------------------------- output capture

class Logs:
    """Lines of one invocation, bounded in count, line length and total size."""
    __slots__ = ('lines', 'chars', 'dropped', 'partial')

    def __init__(self):
        self.lines = []
        self.chars = 0
        self.dropped = 0
        # concurrency > 1 only: the unfinished line of each stream, kept with the call's logs.
        self.partial = None

    def write(self, stream, s):
        """What CapturedStream.write does, for a call that has its own Logs (concurrency > 1)."""
        if not isinstance(s, str):
            raise TypeError('write() argument must be str, not %s' % type(s).__name__)
        partials = self.partial
        if partials is None:
            partials = self.partial = {}
        partial = partials.get(stream, '')
        if '\n' not in s:
            if len(partial) <= LOG_MAX_LINE:
                partials[stream] = partial + s
            return len(s)
        parts = s.split('\n')
        self.add(partial + parts[0])
        for i in range(1, len(parts) - 1):
            self.add(parts[i])
        partials[stream] = parts[-1]
        return len(s)

    def add(self, line):
        if line.endswith('\r'):
            line = line[:-1]
        if len(line) > LOG_MAX_LINE:
            line = line[:LOG_MAX_LINE]
        # Once dropping starts everything after is dropped, so what is kept is a prefix.
        if self.dropped or len(self.lines) >= LOG_MAX_LINES or self.chars + len(line) > LOG_MAX_CHARS:
            self.dropped += 1
            return
        self.lines.append(line)
        self.chars += len(line)

    def finish(self):
        if self.partial:
            for rest in self.partial.values():
                if rest:
                    self.add(rest)
            self.partial = None
        lines = self.lines
        if self.dropped:
            # The marker is one of the at most LOG_MAX_LINES lines.
            if len(lines) >= LOG_MAX_LINES:
                lines.pop()
                self.dropped += 1
            lines.append('[%d more log lines dropped]' % self.dropped)
        return lines


class CapturedStream:
    """Stands in for sys.stdout / sys.stderr from `init` on. During an invocation writes become
    log lines; otherwise they go to the real stream. Installed before the function's module
    loads, so loggers created at import time are captured too."""

    def __init__(self, real):
        self._real = real
        self._logs = None
        self._partial = ''

    def capture(self, logs):
        self._logs = logs
        self._partial = ''

    def release(self):
        logs = self._logs
        if logs is not None and self._partial:
            logs.add(self._partial)
        self._logs = None
        self._partial = ''

    def write(self, s):
        if _call_logs is not None:
            call = _call_logs.get(None)
            if call is not None:
                return call.write(id(self), s)
        logs = self._logs
        if logs is None:
            if self._real is not None:
                return self._real.write(s)
            return len(s)
        if not isinstance(s, str):
            raise TypeError('write() argument must be str, not %s' % type(s).__name__)
        if '\n' not in s:
            if len(self._partial) <= LOG_MAX_LINE:
                self._partial += s
            return len(s)
        parts = s.split('\n')
        add = logs.add
        add(self._partial + parts[0] if self._partial else parts[0])
        for i in range(1, len(parts) - 1):
            add(parts[i])
        self._partial = parts[-1]
        return len(s)

    def writelines(self, lines):
        for line in lines:
            self.write(line)

    def flush(self):
        if self._logs is None and self._real is not None:
            self._real.flush()

    def isatty(self):
        return False

    def writable(self):
        return True

    def __getattr__(self, name):
        # encoding, errors, buffer, fileno, ...: those of the real stream.
        return getattr(self._real, name)


# ---------------------------------------------------------------- request / response

class Request:
    __slots__ = ('method', 'path', 'headers', 'body', 'query_params', 'id')

    def __init__(self, rid, method, path, headers, query, body):
        self.id = rid
        self.method = method
        self.path = path
        self.headers = headers
        self.query_params = query
        self.body = body

    def get_json(self):
        """The body parsed as JSON; None for an empty body. Raises ValueError if invalid."""
        if not self.body:
            return None
        return json_loads(self.body)

    def get_text(self):
        return self.body.decode('utf-8', 'replace')

    def get_header(self, name, default=None):
        return self.headers.get(name.lower(), default)

    def __repr__(self):
        return '<Request %s %s>' % (self.method, self.path)


class ResponseError(Exception):
    def __init__(self, type_name, message):
        Exception.__init__(self, message)
        self.type_name = type_name


def _to_json(value):
    try:
        return json_dumps(value).encode('utf-8')
    except (TypeError, ValueError, RecursionError, UnicodeError) as e:
        raise ResponseError('SerializationError', 'cannot serialise the return value as JSON: %s' % e)


def _header_value(v):
    if v is True:
        return 'true'
    if v is False:
        return 'false'
    if isinstance(v, (list, tuple)):
        return ', '.join(_header_value(x) for x in v)
    return v if type(v) is str else str(v)


def to_response(value):
    """Handler return value -> (status, headers, body), as docs/protocol.md defines."""
    if type(value) is dict:
        sc = value.get('statusCode')
        if isinstance(sc, (int, float)) and not isinstance(sc, bool):
            return _lambda_response(value, sc)
    elif isinstance(value, (bytes, bytearray, memoryview)):
        return 200, {'content-type': 'application/octet-stream'}, bytes(value)
    return 200, {'content-type': 'application/json'}, _to_json(value)


def _lambda_response(value, sc):
    if not 100 <= sc <= 599 or int(sc) != sc:  # NaN fails the range test; inf never reaches int()
        raise ResponseError('SerializationError', 'statusCode must be an integer from 100 to 599, not %r' % (sc,))
    headers = {}
    raw_headers = value.get('headers')
    if isinstance(raw_headers, dict):
        for k, v in raw_headers.items():
            if v is not None:
                headers[str(k)] = _header_value(v)
    body = value.get('body')
    if body is None:
        data, default_type = b'', None
    elif isinstance(body, str):
        if value.get('isBase64Encoded'):
            import binascii
            try:
                data = binascii.a2b_base64(body)
            except (binascii.Error, ValueError) as e:
                raise ResponseError('SerializationError', 'body is not valid base64: %s' % e)
            default_type = 'application/octet-stream'
        else:
            try:
                data = body.encode('utf-8')
            except UnicodeError as e:
                raise ResponseError('SerializationError', 'body is not valid text: %s' % e)
            default_type = 'text/plain; charset=utf-8'
    elif isinstance(body, (bytes, bytearray, memoryview)):
        data, default_type = bytes(body), 'application/octet-stream'
    else:
        data, default_type = _to_json(body), 'application/json'
    if default_type and data:
        for k in headers:
            if k.lower() == 'content-type':
                break
        else:
            headers['content-type'] = default_type
    return int(sc), headers, data


# ---------------------------------------------------------------- errors

def _cut(text):
    return text if len(text) <= ERROR_TEXT_MAX else text[:ERROR_TEXT_MAX] + '... [truncated]'


def _strip_frames(tb):
    """Unlinks the shim's own, importlib's and asyncio's frames from a traceback chain."""
    head = prev = None
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        hidden = filename == SHIM_FILE
        if not hidden:
            for prefix in _hidden_prefixes:
                if filename.startswith(prefix):
                    hidden = True
                    break
        if not hidden:
            if prev is None:
                head = tb
            else:
                prev.tb_next = tb
            prev = tb
        tb = tb.tb_next
    if prev is not None:
        prev.tb_next = None
    return head


def error_info(exc):
    if isinstance(exc, ResponseError):
        return {'type': exc.type_name, 'message': _cut(str(exc)), 'stack': ''}
    import traceback
    try:
        seen = set()
        e = exc
        while e is not None and id(e) not in seen:
            seen.add(id(e))
            e.__traceback__ = _strip_frames(e.__traceback__)
            e = e.__cause__ or e.__context__
        stack = ''.join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    except Exception:
        stack = ''
    try:
        message = str(exc)
    except Exception:
        message = '<unprintable %s>' % type(exc).__name__
    return {'type': type(exc).__name__, 'message': _cut(message), 'stack': _cut(stack)}


# ---------------------------------------------------------------- lifecycle

class Runtime:
    def __init__(self, conn):
        self.conn = conn
        self.send_raw = conn.send_raw
        self.handler = None
        self.loop = None
        self.out = self.err = None
        # Calls the daemon may send at once: init's `concurrency` for an `async def` handler, else 1.
        self.concurrency = 1

    def init(self, header):
        fn = header.get('function')
        env = header.get('env')
        if type(fn) is not dict or type(env) is not dict:
            raise ProtocolError('malformed init frame')
        code_dir, file, name = fn.get('dir'), fn.get('file'), fn.get('handler') or 'handle'
        if type(code_dir) is not str or type(file) is not str or type(name) is not str:
            raise ProtocolError('malformed init frame')
        concurrency = header.get('concurrency', 1)
        if type(concurrency) is not int or concurrency < 1:
            raise ProtocolError('malformed init frame')
        for k, v in env.items():
            os.environ[k] = v if type(v) is str else str(v)
        sys.path[0:0] = [code_dir, os.path.join(code_dir, '.deps')]
        self.prepare()
        started = perf_counter()
        try:
            try:
                # What importlib.util re-exports, from the import system's frozen modules that
                # every interpreter has loaded already: importing the importlib package (and
                # warnings with it) would cost ~1 ms of the cold start.
                from _frozen_importlib_external import spec_from_file_location
                from _frozen_importlib import module_from_spec
            except ImportError:
                from importlib.util import spec_from_file_location, module_from_spec
            module_path = os.path.join(code_dir, file)
            spec = spec_from_file_location('faas_function', module_path)
            if spec is None or spec.loader is None:
                raise ImportError('cannot load %s' % module_path)
            module = module_from_spec(spec)
            sys.modules['faas_function'] = module
            spec.loader.exec_module(module)
            handler = getattr(module, name, None)
            if not callable(handler):
                raise HandlerNotFound('%s has no function %r' % (file, name))
        except BaseException as e:
            if isinstance(e, KeyboardInterrupt):
                raise
            self.conn.send({'type': 'init_error', 'error': error_info(e)})
            _exit(4)
        self.handler = handler
        load_ms = round((perf_counter() - started) * 1000, 3)
        # Only a coroutine function's calls can overlap (CO_COROUTINE): a plain `def` blocks
        # the loop, so its instance takes one call at a time whatever the config says.
        code = getattr(handler, '__code__', None)
        if concurrency > 1 and code is not None and code.co_flags & 0x80:
            self.concurrency = concurrency
            self.conn.send({'type': 'init_ok', 'load_ms': load_ms, 'concurrency': concurrency})
        else:
            self.conn.send({'type': 'init_ok', 'load_ms': load_ms})

    def prepare(self):
        # Needs no function: done while the shim waits for `init` (main), so a pre-warmed
        # instance does not pay for it when it is specialised.
        if self.out is not None:
            return
        # Output outside invocations reaches the daemon's debug log as it happens, not when a
        # pipe's 8 KiB buffer fills (or never, if the instance is killed).
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.reconfigure(line_buffering=True)
            except Exception:
                pass
        self.out = sys.stdout = CapturedStream(sys.stdout)
        self.err = sys.stderr = CapturedStream(sys.stderr)
        # The first compile() in a process builds the compiler's AST types (~1.5 ms): pay it
        # here rather than when the function's module is compiled.
        compile('pass', '<faasd-warm-up>', 'exec')

    def _request(self, header, body):
        rid, method, path = header.get('id'), header.get('method'), header.get('path')
        query, headers = header.get('query'), header.get('headers')
        if (type(rid) is not str or type(method) is not str or type(path) is not str
                or type(query) is not dict or type(headers) is not dict):
            raise ProtocolError('malformed invoke frame')
        return rid, Request(rid, method, path, headers, query, body)

    def invoke(self, header, body):
        rid, request = self._request(header, body)
        logs = Logs()
        out, err = self.out, self.err
        out.capture(logs)
        err.capture(logs)
        failure = None
        try:
            value = self.handler(request)
            if hasattr(value, '__await__'):
                value = self._event_loop().run_until_complete(value)
            response = _checked_response(value)
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as e:
            failure = e
        finally:
            out.release()
            err.release()
        self._answer(rid, response if failure is None else None, failure, logs.finish())

    async def invoke_async(self, header, body):
        """One call of an `async def` handler when calls overlap (concurrency > 1): it runs
        as its own task, so `_call_logs` (a ContextVar) holds this call's Logs alone."""
        rid, request = self._request(header, body)
        logs = Logs()
        _call_logs.set(logs)
        failure = response = None
        try:
            response = _checked_response(await self.handler(request))
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as e:
            failure = e
        _call_logs.set(None)
        self._answer(rid, response, failure, logs.finish())

    def _answer(self, rid, response, failure, lines):
        if failure is None:
            status, res_headers, res_body = response
            header_bytes = _encode({'type': 'result', 'id': rid, 'status': status, 'headers': res_headers, 'logs': lines})
            if len(header_bytes) > MAX_HEADER:
                lines = ['[logs dropped: the response header would exceed the protocol limit]']
                header_bytes = _encode({'type': 'result', 'id': rid, 'status': status, 'headers': res_headers, 'logs': lines})
            if len(header_bytes) <= MAX_HEADER:
                self.send_raw(header_bytes, res_body)
                return
            failure = ResponseError('ResponseTooLarge', 'response headers exceed %d bytes' % MAX_HEADER)
        error = error_info(failure)
        failure = None  # drop the traceback (and the frames it holds) now
        header_bytes = _encode({'type': 'error', 'id': rid, 'error': error, 'logs': lines})
        if len(header_bytes) > MAX_HEADER:
            lines = ['[logs dropped: the error header would exceed the protocol limit]']
            header_bytes = _encode({'type': 'error', 'id': rid, 'error': error, 'logs': lines})
        self.send_raw(header_bytes)

    def _event_loop(self):
        # One loop for the instance's life: asyncio.run() per call would pay loop set-up each
        # time and close anything (connections, tasks) the function keeps between calls.
        if self.loop is None:
            import asyncio
            _hidden_prefixes.append(os.path.dirname(asyncio.__file__) + os.sep)
            self.loop = asyncio.new_event_loop()
            asyncio.set_event_loop(self.loop)
        return self.loop


def _checked_response(value):
    response = to_response(value)
    if len(response[2]) > MAX_BODY:
        raise ResponseError('ResponseTooLarge', 'response body of %d bytes exceeds %d' % (len(response[2]), MAX_BODY))
    return response


class HandlerNotFound(Exception):
    pass


class AsyncCalls:
    """concurrency > 1: the instance's calls run as tasks on its one event loop. Frames are read
    as they arrive (the daemon sends at most `concurrency` calls before their answers) and
    answers are written, whole frames in order, as each call finishes."""

    def __init__(self, runtime):
        global _call_logs
        from contextvars import ContextVar
        _call_logs = ContextVar('faasd_call_logs', default=None)
        self.runtime = runtime
        self.limit = runtime.concurrency
        self.in_flight = 0
        self.tasks = set()
        self.sock = runtime.conn.sock
        self.buf = runtime.conn.buf
        self.out = bytearray()
        self.writing = False
        self.loop = runtime._event_loop()
        runtime.send_raw = self.send_raw

    def run(self):
        self.sock.setblocking(False)
        self.fd = self.sock.fileno()
        self.loop.add_reader(self.fd, self._on_readable)
        self.loop.call_soon(self._frames)
        self.loop.run_forever()

    def _on_readable(self):
        try:
            chunk = self.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            _exit(0)
        if not chunk:
            _exit(0)  # the daemon closed the connection
        self.buf += chunk
        self._frames()

    def _frames(self):
        try:
            while True:
                frame = _take_frame(self.buf)
                if frame is None:
                    return
                header, body = frame
                if header['type'] == 'cancel':
                    continue  # only calls sent ahead are cancelled, never with concurrency > 1
                if header['type'] != 'invoke' or self.in_flight >= self.limit:
                    raise ProtocolError('unexpected %r frame with %d calls in flight' % (header['type'], self.in_flight))
                self.in_flight += 1
                task = self.loop.create_task(self._call(header, body))
                self.tasks.add(task)
                task.add_done_callback(self.tasks.discard)
        except ProtocolError as e:
            _protocol_exit(e)

    async def _call(self, header, body):
        try:
            await self.runtime.invoke_async(header, body)
        except ProtocolError as e:
            _protocol_exit(e)
        except (SystemExit, KeyboardInterrupt):
            _exit(1)
        finally:
            self.in_flight -= 1

    def send_raw(self, header_bytes, body=b''):
        out = self.out
        out += len(header_bytes).to_bytes(4, 'big') + len(body).to_bytes(4, 'big')
        out += header_bytes
        out += body
        if not self.writing:
            self._flush()

    def _flush(self):
        try:
            sent = self.sock.send(self.out)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError:
            _exit(0)
        del self.out[:sent]
        if self.out and not self.writing:
            self.writing = True
            self.loop.add_writer(self.fd, self._flush)
        elif not self.out and self.writing:
            self.writing = False
            self.loop.remove_writer(self.fd)


def _protocol_exit(e):
    sys.__stderr__.write('faasd shim: protocol error: %s\n' % e)
    _exit(3)


def main():
    path = os.environ.get('FAAS_SOCKET')
    if not path:
        sys.stderr.write('faasd shim: FAAS_SOCKET is not set\n')
        _exit(1)
    # Keep the shim's own directory off the function's import path.
    here = os.path.dirname(os.path.realpath(globals().get('__file__') or SHIM_FILE))
    if sys.path and (sys.path[0] == '' or os.path.realpath(sys.path[0]) == here):
        del sys.path[0]
    try:
        conn = Connection(path)
    except OSError as e:
        sys.stderr.write('faasd shim: cannot connect to %s: %s\n' % (path, e))
        _exit(1)
    v = sys.version_info
    ready = '{"type":"ready","runtime":"python","version":"%d.%d.%d","pid":%d}' % (v[0], v[1], v[2], os.getpid())
    conn.send_raw(ready.encode())
    _load_json()
    runtime = Runtime(conn)
    runtime.prepare()
    try:
        header, body = conn.read_frame()
        if header['type'] != 'init':
            raise ProtocolError('expected init, got %r' % header['type'])
        runtime.init(header)
        if runtime.concurrency > 1:
            AsyncCalls(runtime).run()
        # One call at a time, in order: a call the daemon sent ahead (pipelining) waits in the
        # socket until the one before it is answered.
        while True:
            header, body = conn.read_frame()
            kind = header['type']
            if kind != 'invoke':
                if kind == 'cancel':
                    continue  # for a call already answered: the daemon has its answer
                raise ProtocolError('expected invoke, got %r' % kind)
            if conn.buf and conn.take_cancel(header.get('id')):
                conn.send({'type': 'cancelled', 'id': header['id']})
                continue
            runtime.invoke(header, body)
    except (EOFError, OSError):
        # The daemon closed the connection (or it broke): nothing left to serve.
        _exit(0)
    except ProtocolError as e:
        sys.__stderr__.write('faasd shim: protocol error: %s\n' % e)
        _exit(3)


if __name__ == '__main__':
    main()
