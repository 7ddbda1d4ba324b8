// getppid() storm: N raw syscalls per thread, prints ns per syscall. Used by `bun run bench` and the tests.
//   storm N [THREADS] [--hold] [--migrate=K]
// THREADS (default 1) threads run the storm at once; with --hold they stay alive after it, printing
// first, until stdin reaches end of file (so a test can read a live process's counts). With --migrate=K
// each thread moves itself to the next CPU it may run on every K syscalls (records of one thread in
// every CPU's firehose ring).
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/syscall.h>

static long n = 5000000, migrate;
static pthread_barrier_t stormed, done;
static int hold;
static cpu_set_t allowed;

/* Pins the calling thread to the allowed CPU after `cpu` (wrapping); returns it. */
static int move_on(int cpu)
{
	cpu_set_t one;

	do
		cpu = (cpu + 1) % CPU_SETSIZE;
	while (!CPU_ISSET(cpu, &allowed));
	CPU_ZERO(&one);
	CPU_SET(cpu, &one);
	sched_setaffinity(0, sizeof(one), &one);
	return cpu;
}

static void storm_loop(void)
{
	int cpu = sched_getcpu();

	for (long i = 0; i < n; i++) {
		if (migrate && i % migrate == 0)
			cpu = move_on(cpu);
		syscall(SYS_getppid);
	}
}

static void *storm(void *arg)
{
	(void)arg;
	storm_loop();
	if (hold) {
		pthread_barrier_wait(&stormed);
		pthread_barrier_wait(&done); /* stay alive until main has seen stdin close */
	}
	return NULL;
}

int main(int argc, char **argv)
{
	int threads = argc > 2 ? atoi(argv[2]) : 1;
	struct timespec a, b;
	pthread_t *t;
	char c;

	n = argc > 1 ? atol(argv[1]) : n;
	for (int i = 3; i < argc; i++) {
		if (strcmp(argv[i], "--hold") == 0)
			hold = 1;
		else if (strncmp(argv[i], "--migrate=", 10) == 0)
			migrate = atol(argv[i] + 10);
		else
			return 2;
	}
	if (threads < 1 || n < 0 || migrate < 0 || sched_getaffinity(0, sizeof(allowed), &allowed))
		return 2;
	t = calloc(threads, sizeof(*t));
	pthread_barrier_init(&stormed, NULL, threads);
	pthread_barrier_init(&done, NULL, threads);
	clock_gettime(CLOCK_MONOTONIC, &a);
	if (threads == 1 && !hold) {
		storm(NULL); /* the benchmark's case: no thread, no barrier */
	} else {
		for (int i = 1; i < threads; i++)
			pthread_create(&t[i], NULL, storm, NULL);
		storm_loop(); /* the main thread is the first storm thread */
	}
	clock_gettime(CLOCK_MONOTONIC, &b);
	if (hold)
		pthread_barrier_wait(&stormed); /* every thread has made its syscalls */
	else
		for (int i = 1; i < threads; i++)
			pthread_join(t[i], NULL);
	printf("%.2f\n", ((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec)) / n);
	fflush(stdout);
	if (hold) {
		while (read(0, &c, 1) > 0)
			;
		pthread_barrier_wait(&done);
		for (int i = 1; i < threads; i++)
			pthread_join(t[i], NULL);
	}
	return 0;
}
