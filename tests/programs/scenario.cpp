// Test programs with known behaviour, for the end-to-end tests. Each scenario prints the pids
// the test should look for as "key=value" lines on stdout, then exits 0.
#include <fcntl.h>
#include <linux/sched.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

std::string self_path() {
  char buf[4096];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n < 0) {
    perror("readlink /proc/self/exe");
    exit(100);
  }
  return std::string(buf, static_cast<size_t>(n));
}

[[noreturn]] void exec_self(const std::vector<std::string>& args) {
  std::string path = self_path();
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  char* envp[] = {const_cast<char*>("PROCTRAIL_SCENARIO=1"), nullptr};
  execve(path.c_str(), argv.data(), envp);
  perror("execve");
  _exit(101);
}

int wait_for(pid_t pid) {
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return -1;
  }
  return status;
}

void report(const char* key, long value) {
  printf("%s=%ld\n", key, value);
  fflush(stdout);
}

// fork + exec + exit 3
int fork_exec_exit3() {
  pid_t child = fork();
  if (child == 0) exec_self({"scenario", "exit-now", "3"});
  report("parent", getpid());
  report("child", child);
  int st = wait_for(child);
  return WIFEXITED(st) && WEXITSTATUS(st) == 3 ? 0 : 1;
}

int killed_by_sigterm() {
  pid_t child = fork();
  if (child == 0) {
    raise(SIGTERM);
    _exit(0);
  }
  report("child", child);
  int st = wait_for(child);
  return WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM ? 0 : 1;
}

int setuid_nobody() {
  pid_t child = fork();
  if (child == 0) {
    if (setgid(65534) != 0 || setuid(65534) != 0) _exit(2);
    _exit(0);
  }
  report("child", child);
  int st = wait_for(child);
  return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : 1;
}

void* thread_body(void*) {
  printf("thread=%d\n", gettid());
  fflush(stdout);
  return nullptr;
}

int thread_exits() {
  report("pid", getpid());
  pthread_t t;
  if (pthread_create(&t, nullptr, thread_body, nullptr) != 0) return 1;
  pthread_join(t, nullptr);
  // pthread_join returns once the kernel has released the thread's memory, before it sends the
  // thread's exit event. Without a pause the process's own exit can reach the proc connector
  // first (seen under qemu), and the netlink backend, which only has the kernel's order, then
  // takes the thread for the last one (docs/output.md, "Threads and the end of a process").
  // (The eBPF backend is not misled: join-then-exit is its test.)
  usleep(500'000);
  return 0;
}

// The child forks a grandchild and exits at once; the grandchild outlives it and is
// reparented before it exits.
int orphan() {
  int fds[2];
  if (pipe(fds) != 0) return 1;
  pid_t child = fork();
  if (child == 0) {
    pid_t grandchild = fork();
    if (grandchild == 0) {
      usleep(200'000);
      _exit(0);
    }
    if (write(fds[1], &grandchild, sizeof grandchild) != sizeof grandchild) _exit(1);
    _exit(0);
  }
  pid_t grandchild = 0;
  if (read(fds[0], &grandchild, sizeof grandchild) != sizeof grandchild) return 1;
  report("child", child);
  report("grandchild", grandchild);
  wait_for(child);
  // Wait for the grandchild to be gone (it is not ours to reap).
  while (kill(grandchild, 0) == 0) usleep(10'000);
  return 0;
}

// An exec with awkward arguments, as nobody, in /tmp.
int awkward_argv() {
  pid_t child = fork();
  if (child == 0) {
    if (chdir("/tmp") != 0) _exit(2);
    if (setgid(65534) != 0 || setuid(65534) != 0) _exit(2);
    exec_self({"scenario", "sleep-ms", "50", "", "line1\nline2", "\x1b[31mred", "it's \"quoted\""});
  }
  report("parent", getpid());
  report("child", child);
  int st = wait_for(child);
  return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : 1;
}

// exec, then overwrite the argument strings in memory before doing anything else.
int rewrite_argv_child(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) memset(argv[i], 'X', strlen(argv[i]));
  usleep(300'000);
  return 0;
}

int rewrite_argv() {
  pid_t child = fork();
  if (child == 0) exec_self({"scenario", "rewrite-child", "secret-original-argument"});
  report("child", child);
  int st = wait_for(child);
  return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : 1;
}

int many_args(long n) {
  pid_t child = fork();
  if (child == 0) {
    std::vector<std::string> args = {"scenario", "exit-now", "0"};
    for (long i = 0; i < n; ++i) args.push_back("a" + std::to_string(i));
    exec_self(args);
  }
  report("child", child);
  int st = wait_for(child);
  return WIFEXITED(st) ? 0 : 1;
}

// The child lives a few milliseconds after its exec, so that /proc can be read on the netlink
// backend too ("9" takes as many bytes as the "0" of exit-now: the sizes tests expect hold).
int big_arg(long bytes) {
  pid_t child = fork();
  if (child == 0)
    exec_self({"scenario", "sleep-ms", "9", std::string(static_cast<size_t>(bytes), 'z')});
  report("child", child);
  int st = wait_for(child);
  return WIFEXITED(st) ? 0 : 1;
}

// exec twice in quick succession: the first image lives only as long as it takes to exec.
int double_exec() {
  pid_t child = fork();
  if (child == 0) exec_self({"scenario", "exec-again", "first-image"});
  report("child", child);
  int st = wait_for(child);
  return WIFEXITED(st) ? 0 : 1;
}

int spawn_many(long n) {
  for (long i = 0; i < n; ++i) {
    pid_t c = fork();
    if (c == 0) exec_self({"scenario", "exit-now", "0"});
    wait_for(c);
  }
  return 0;
}

// N children, one after another, each running child() (which does not return); the parent
// waits for each and needs status 0.
int children_one_by_one(long n, void (*child)()) {
  report("parent", getpid());
  for (long i = 0; i < n; ++i) {
    pid_t c = fork();
    if (c == 0) child();
    if (wait_for(c) != 0) return 1;
  }
  return 0;
}

// Each child starts a thread, joins it and exits at once: what most threaded programs do at
// their end. Under qemu on 6.1 the thread's exit is sometimes still being traced when the main
// thread leaves, so both can find the process's live count at zero.
int join_then_exit(long n) {
  return children_one_by_one(n, [] {
    pthread_t t;
    if (pthread_create(
            &t, nullptr, [](void*) -> void* { return nullptr; }, nullptr) != 0) {
      _exit(2);
    }
    pthread_join(t, nullptr);
    _exit(0);
  });
}

// Each child's worker thread ends the process (exit_group) at once while the main thread
// waits: the kernel stops the main thread, and both threads' exits are traced at about the
// same time.
int worker_ends_group(long n) {
  return children_one_by_one(n, [] {
    pthread_t t;
    if (pthread_create(
            &t, nullptr, [](void*) -> void* { exit(0); }, nullptr) != 0)
      _exit(2);
    for (;;) pause();
  });
}

int g_report_fd = -1;

void send_tid() {
  pid_t tid = gettid();
  if (write(g_report_fd, &tid, sizeof tid) != sizeof tid) _exit(3);
}

pid_t receive_tid(int fd) {
  pid_t tid = 0;
  if (read(fd, &tid, sizeof tid) != sizeof tid) return -1;
  return tid;
}

// The main thread calls pthread_exit first; a worker ends the process 300 ms later with
// exit(7). The process lives until then, and its status is 7.
int leader_exits_first() {
  int fds[2];
  if (pipe(fds) != 0) return 1;
  pid_t child = fork();
  if (child == 0) {
    g_report_fd = fds[1];
    pthread_t t;
    auto worker = [](void*) -> void* {
      send_tid();
      usleep(300'000);
      exit(7);
    };
    if (pthread_create(&t, nullptr, worker, nullptr) != 0) _exit(2);
    pthread_exit(nullptr);
  }
  report("child", child);
  report("worker", receive_tid(fds[0]));
  int st = wait_for(child);
  return WIFEXITED(st) && WEXITSTATUS(st) == 7 ? 0 : 1;
}

// A thread other than the main one calls execve while a third thread idles: the kernel ends
// the other two and the new program (exit 5) runs under the process's pid.
int thread_exec() {
  int fds[2];
  if (pipe(fds) != 0) return 1;
  pid_t child = fork();
  if (child == 0) {
    g_report_fd = fds[1];
    pthread_t idle, caller;
    auto idler = [](void*) -> void* {
      for (;;) pause();
    };
    auto exec_caller = [](void*) -> void* {
      send_tid();
      usleep(100'000);
      exec_self({"scenario", "exit-now", "5", "from-a-thread"});
    };
    if (pthread_create(&idle, nullptr, idler, nullptr) != 0) _exit(2);
    if (pthread_create(&caller, nullptr, exec_caller, nullptr) != 0) _exit(2);
    for (;;) pause();
  }
  report("child", child);
  report("exec_thread", receive_tid(fds[0]));
  int st = wait_for(child);
  return WIFEXITED(st) && WEXITSTATUS(st) == 5 ? 0 : 1;
}

// Up to `want` pids near the top of the pid range that no process holds now.
std::vector<pid_t> free_high_pids(size_t want) {
  long max = 32768;
  if (FILE* f = fopen("/proc/sys/kernel/pid_max", "r")) {
    if (fscanf(f, "%ld", &max) != 1) max = 32768;
    fclose(f);
  }
  std::vector<pid_t> pids;
  for (long p = max - 100; p > max / 2 && pids.size() < want; p -= 7) {
    if (kill(static_cast<pid_t>(p), 0) != 0 && errno == ESRCH)
      pids.push_back(static_cast<pid_t>(p));
  }
  return pids;
}

// n short-lived processes that take turns on 4 pids (clone3 with set_tid, as root), each
// exec'ing "/bin/true reuse-I". Prints the pids in turn order and the count.
int reuse_storm(long n) {
  std::vector<pid_t> pids = free_high_pids(4);
  if (pids.size() != 4) {
    fprintf(stderr, "no 4 free pids\n");
    return 1;
  }
  for (size_t i = 0; i < pids.size(); ++i) report(("pid" + std::to_string(i)).c_str(), pids[i]);
  for (long i = 0; i < n; ++i) {
    pid_t want = pids[static_cast<size_t>(i) % pids.size()];
    clone_args args{};
    args.exit_signal = SIGCHLD;
    args.set_tid = reinterpret_cast<uintptr_t>(&want);
    args.set_tid_size = 1;
    long c = syscall(SYS_clone3, &args, sizeof args);
    if (c == 0) {
      std::string tag = "reuse-" + std::to_string(i);
      execl("/bin/true", "/bin/true", tag.c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
    if (c < 0) {
      perror("clone3 with set_tid (needs root)");
      return 1;
    }
    if (wait_for(static_cast<pid_t>(c)) < 0) return 1;
  }
  report("count", n);
  return 0;
}

// n execs of "/bin/true MARK-I" one after another, for loss accounting.
// count execs of /bin/true MARK W W ... with `n` arguments W: one byte given in hex ("ff"), or
// empty (""). Command lines that are cheap to make and costly to keep or to write.
int repeat_args(long count, long n, const char* hex, const char* mark) {
  std::vector<char*> args = {const_cast<char*>("/bin/true"), const_cast<char*>(mark)};
  static char word[2] = {};
  word[0] = *hex ? static_cast<char>(strtol(hex, nullptr, 16)) : '\0';
  for (long i = 0; i < n; ++i) args.push_back(word);
  args.push_back(nullptr);
  for (long i = 0; i < count; ++i) {
    pid_t c = fork();
    if (c == 0) {
      execv("/bin/true", args.data());
      _exit(127);
    }
    if (c < 0 || wait_for(c) < 0) return 1;
  }
  report("count", count);
  return 0;
}

int spawn_marked(long n, const char* mark) {
  for (long i = 0; i < n; ++i) {
    pid_t c = fork();
    if (c == 0) {
      std::string tag = std::string(mark) + "-" + std::to_string(i);
      execl("/bin/true", "/bin/true", tag.c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
    if (c < 0 || wait_for(c) < 0) return 1;
  }
  report("count", n);
  return 0;
}

// vfork + exec: the parent is suspended until the child execs.
int vfork_exec() {
  pid_t child = vfork();
  if (child == 0) {
    char* args[] = {const_cast<char*>("/bin/true"), const_cast<char*>("after-vfork"), nullptr};
    execv("/bin/true", args);
    _exit(127);
  }
  report("parent", getpid());
  report("child", child);
  int st = wait_for(child);
  return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : 1;
}

// A middle process forks a child with CLONE_PARENT: the child's parent is the middle
// process's parent (this program), not the middle process.
int clone_parent() {
  int fds[2];
  if (pipe(fds) != 0) return 1;
  pid_t middle = fork();
  if (middle == 0) {
    clone_args args{};
    args.flags = CLONE_PARENT;  // the exit signal is then the middle process's own
    long c = syscall(SYS_clone3, &args, sizeof args);
    if (c < 0) perror("clone3(CLONE_PARENT)");
    if (c == 0) {
      char* a[] = {const_cast<char*>("/bin/true"), const_cast<char*>("clone-parent"), nullptr};
      execv("/bin/true", a);
      _exit(127);
    }
    pid_t child = static_cast<pid_t>(c);
    if (write(fds[1], &child, sizeof child) != sizeof child) _exit(1);
    _exit(0);
  }
  pid_t child = receive_tid(fds[0]);
  report("parent", getpid());
  report("middle", middle);
  report("child", child);
  wait_for(middle);
  int st = wait_for(child);  // ours to reap: CLONE_PARENT made it our child
  return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : 1;
}

// The parent of a running child exits and stays a zombie (nobody reaps it for a while); the
// child execs and exits meanwhile.
int zombie_parent() {
  int fds[2];
  if (pipe(fds) != 0) return 1;
  pid_t parent = fork();
  if (parent == 0) {
    pid_t child = fork();
    if (child == 0) {
      usleep(100'000);  // the parent is a zombie by now
      char* a[] = {const_cast<char*>("/bin/true"), const_cast<char*>("orphan-of-zombie"), nullptr};
      execv("/bin/true", a);
      _exit(127);
    }
    if (write(fds[1], &child, sizeof child) != sizeof child) _exit(1);
    _exit(4);
  }
  pid_t child = receive_tid(fds[0]);
  report("parent", parent);
  report("child", child);
  usleep(300'000);  // the child has exec'd and exited while its parent is unreaped
  while (kill(child, 0) == 0) usleep(10'000);
  int st = wait_for(parent);
  return WIFEXITED(st) && WEXITSTATUS(st) == 4 ? 0 : 1;
}

// A child in a new pid namespace (pid 1 there) forks and execs: the monitor sees host pids.
int new_pid_namespace() {
  if (unshare(CLONE_NEWPID) != 0) {
    perror("unshare(CLONE_NEWPID) (needs root)");
    return 1;
  }
  int fds[2];
  if (pipe(fds) != 0) return 1;
  pid_t init = fork();  // pid 1 of the new namespace
  if (init == 0) {
    pid_t inner = fork();
    if (inner == 0) {
      char* a[] = {const_cast<char*>("/bin/true"), const_cast<char*>("in-a-pid-namespace"),
                   nullptr};
      execv("/bin/true", a);
      _exit(127);
    }
    int st = wait_for(inner);
    _exit(WIFEXITED(st) ? WEXITSTATUS(st) : 1);
  }
  report("init", init);
  int st = wait_for(init);
  return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : 1;
}

// Hostile strings in argv, each exec'd once: argv[1] names the case.
int hostile() {
  const std::string invalid_utf8 = "\xff\xfe\xc3\x28";
  const std::vector<std::vector<std::string>> cases = {
      {"scenario", "exit-now", "0", "esc", "\x1b]0;pwned\x07\x1b[2J\x1b[31mred"},
      {"scenario", "exit-now", "0", "crlf", "fake\r\n12:00:00.000000  exec  1  forged"},
      {"scenario", "exit-now", "0", "del-c1",
       "a\x7f"
       "b\xc2\x9b"
       "31m"},
      {"scenario", "exit-now", "0", "bidi",
       "evil\xe2\x80\xae"
       "fdp.exe\xe2\x80\x8b"},
      {"scenario", "exit-now", "0", "invalid", invalid_utf8},
  };
  for (const auto& c : cases) {
    pid_t child = fork();
    if (child == 0) exec_self(c);
    report(("pid_" + c[3]).c_str(), child);
    wait_for(child);
  }
  // An empty argv: execve with no arguments at all.
  pid_t child = fork();
  if (child == 0) {
    std::string path = self_path();
    char* none[] = {nullptr};
    char* envp[] = {nullptr};
    execve(path.c_str(), none, envp);
    _exit(127);
  }
  report("pid_empty", child);
  wait_for(child);
  // A program whose path holds a newline.
  char dir[] = "/tmp/proctrail-hostile-XXXXXX";
  if (!mkdtemp(dir)) return 1;
  std::string odd = std::string(dir) + "/new\nline";
  if (symlink("/bin/true", odd.c_str()) != 0) return 1;
  child = fork();
  if (child == 0) {
    char* a[] = {const_cast<char*>(odd.c_str()), const_cast<char*>("newline-path"), nullptr};
    execv(odd.c_str(), a);
    _exit(127);
  }
  report("pid_newline", child);
  wait_for(child);
  unlink(odd.c_str());
  rmdir(dir);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  // exec'd with an empty argv (the kernel may supply an empty argv[0]): nothing to do
  if (argc < 1 || argv[0] == nullptr || (argc == 1 && argv[0][0] == '\0')) return 0;
  if (argc < 2) {
    fprintf(stderr, "usage: scenario NAME [ARG]\n");
    return 64;
  }
  std::string name = argv[1];
  long arg = argc > 2 ? strtol(argv[2], nullptr, 10) : 0;
  if (name == "exit-now") return static_cast<int>(arg);
  if (name == "sleep-ms") {
    usleep(static_cast<useconds_t>(arg) * 1000);
    return 0;
  }
  if (name == "rewrite-child") return rewrite_argv_child(argc, argv);
  if (name == "exec-again") {
    char* args[] = {const_cast<char*>("/bin/true"), const_cast<char*>("second-image"), nullptr};
    execv("/bin/true", args);
    return 102;
  }
  if (name == "fork-exec-exit3") return fork_exec_exit3();
  if (name == "sigterm") return killed_by_sigterm();
  if (name == "setuid") return setuid_nobody();
  if (name == "thread") return thread_exits();
  if (name == "orphan") return orphan();
  if (name == "argv") return awkward_argv();
  if (name == "rewrite-argv") return rewrite_argv();
  if (name == "many-args") return many_args(arg);
  if (name == "big-arg") return big_arg(arg);
  if (name == "double-exec") return double_exec();
  if (name == "spawn") return spawn_many(arg);
  if (name == "join-then-exit") return join_then_exit(arg);
  if (name == "worker-ends-group") return worker_ends_group(arg);
  if (name == "leader-exits-first") return leader_exits_first();
  if (name == "thread-exec") return thread_exec();
  if (name == "reuse-storm") return reuse_storm(arg);
  if (name == "spawn-marked") return spawn_marked(arg, argc > 3 ? argv[3] : "mark");
  if (name == "repeat-args") {
    return repeat_args(arg, argc > 3 ? strtol(argv[3], nullptr, 10) : 0, argc > 4 ? argv[4] : "",
                       argc > 5 ? argv[5] : "mark");
  }
  if (name == "vfork") return vfork_exec();
  if (name == "clone-parent") return clone_parent();
  if (name == "zombie-parent") return zombie_parent();
  if (name == "pidns") return new_pid_namespace();
  if (name == "hostile") return hostile();
  fprintf(stderr, "scenario: unknown scenario '%s'\n", name.c_str());
  return 64;
}
