#[cfg(test)]
mod t {
    #[test]
    fn sizes() {
        use crate::*;
        struct C(u64);
        impl Actor for C {
            type Msg = u64;
            async fn handle(&mut self, m: u64, _c: &mut Context<Self>) -> ActorResult {
                self.0 += m;
                Ok(())
            }
        }
        eprintln!("cell {}", std::mem::size_of::<crate::cell::Cell>());
        eprintln!("notify {}", std::mem::size_of::<tokio::sync::Notify>());
        eprintln!(
            "runner {}",
            std::mem::size_of::<crate::runner::Runner<C, fn() -> C>>()
        );
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let sys = ActorSystem::new("x");
            let (tx, rx) = crate::mailbox::mailbox::<u64>(MailboxConfig::default());
            drop(tx);
            let r = sys.spawn("a", || C(0)).unwrap();
            let cell = r.cell().clone();
            let ctx = Context::<C>::new(r.clone());
            let runner = crate::runner::Runner::new(cell, (|| C(0)) as fn() -> C, rx, ctx);
            let mut runner = runner;
            eprintln!(
                "start_instance {}",
                std::mem::size_of_val(&runner.start_instance(None))
            );
            eprintln!(
                "run_instance {}",
                std::mem::size_of_val(&runner.run_instance())
            );
            eprintln!(
                "handle_message {}",
                std::mem::size_of_val(&runner.handle_message(1))
            );
            eprintln!("state {}", std::mem::size_of::<crate::runner::State>());
            let fut = runner.run();
            eprintln!("run future {}", std::mem::size_of_val(&fut));
        });
    }
}
