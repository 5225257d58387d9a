// Test programs with known behaviour, for the end-to-end tests. Each scenario prints the pids
// the test should look for as "key=value" lines on stdout, then exits 0.
#include <pthread.h>
#include <signal.h>
#include <sys/prctl.h>
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

int big_arg(long bytes) {
  pid_t child = fork();
  if (child == 0)
    exec_self({"scenario", "exit-now", "0", std::string(static_cast<size_t>(bytes), 'z')});
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

}  // namespace

int main(int argc, char** argv) {
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
  fprintf(stderr, "scenario: unknown scenario '%s'\n", name.c_str());
  return 64;
}
