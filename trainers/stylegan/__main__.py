from trainers.stylegan.training_loop import main

main()
